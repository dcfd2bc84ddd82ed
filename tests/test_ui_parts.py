"""The pages' shared parts: the URL-state table, the parameter → widget rule, the page key prefixes."""
import re

import pytest

from conftest import ROOT
from ildl import data as D
from ildl.config import Param
from ildl.tasks import DEFAULT, TASKS
from pages._ui import state as S
from pages._ui.widgets import _param_spec


def test_every_shared_url_key_reads_back_what_it_writes():
    values = {"dataset": "Movie", "protocol": "kfold", "method": "amema", "task": "lt", "run": "20261202-x",
              "study_run": "20261202-y", "thresholds": (0.6, 0.2, 0, 1)}
    assert set(values) == {u.name for u in S.URL_STATE}
    for u in S.URL_STATE:
        assert u.read(u.write(values[u.name])) == values[u.name], u.name
    bad = {"dataset": "upload", "protocol": "loo", "method": "no-such", "task": "x", "thresholds": "1,2"}
    for u in S.URL_STATE:
        if u.name in bad:
            with pytest.raises(ValueError):
                u.read(bad[u.name])


def test_the_pages_tables_agree_with_the_library_and_the_files():
    assert S.TASKS == tuple(TASKS) and S.SIDEBAR_TASK == DEFAULT
    assert [d for d in S.DATASETS if d != S.UPLOAD] == ["synthetic", *D.bundled_names()]
    prefixes = [p.prefix for p in S.PAGES]
    assert len(set(prefixes)) == len(prefixes) and not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)
    for p in S.PAGES:
        assert (ROOT / p.path).is_file(), p.path
        m = re.search(r'^PAGE = "(\w+)"', (ROOT / p.path).read_text(), re.M)
        if m:  # a page's widget keys are `<PAGE>_…`: its prefix in the table
            assert p.prefix == m.group(1) + "_", p.path


@pytest.mark.parametrize("param, kind", [
    (Param("k", "int", 10, "", 2, 50, 1), "slider"),  # ≤ 400 steps
    (Param("k", "int", 10, "", 1, 5000, 1), "number"),  # too many steps for a slider
    (Param("x", "float", 0.5, "", 0.0, 1.0, 0.01), "slider"),
    (Param("x", "float", 1e-3, "", 1e-6, 1.0, log=True), "number"),  # a log scale is typed, not slid
    (Param("x", "float", 0.5), "number"),  # unbounded
    (Param("b", "bool", True), "toggle"),
    (Param("c", "choice", "a", choices=("a", "b")), "select"),
])
def test_one_rule_from_a_declared_parameter_to_its_widget(param, kind):
    got, cast, kw = _param_spec(param)
    assert got == kind
    if kind == "slider":
        assert kw["min_value"] == param.min and kw["max_value"] == param.max and kw["step"] == param.step
    if kind == "select":
        assert kw["options"] == list(param.choices)
    assert isinstance(cast(param.default), type(param.default) if kind != "number" or param.kind != "int" else int)


def test_every_expander_keeps_what_the_reader_opened():
    """A redraw that moves an unkeyed expander (the live part above it grows) brings it back closed, so every
    expander with a fixed default has a key. One whose `expanded` follows the state goes without: Streamlit ignores a
    keyed expander's new `expanded`."""
    import ast

    found = 0
    for path in sorted([*(ROOT / "pages").rglob("*.py"), ROOT / "app.py"]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "expander"):
                continue
            found += 1
            kw = {k.arg: k.value for k in node.keywords}
            follows_state = "expanded" in kw and not isinstance(kw["expanded"], ast.Constant)
            assert ("key" in kw) != follows_state, f"{path.name}:{node.lineno}: " + (
                "an expander whose `expanded` follows the state must not have a key" if follows_state
                else "an expander with a fixed default needs a key")
    assert found >= 7
