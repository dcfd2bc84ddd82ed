"""Issue 20's defects, each with a test that failed before its fix."""
from __future__ import annotations

import numpy as np
import pytest

from ildl import longtail as LT
from ildl.tasks import get


@pytest.mark.parametrize("kind", ["ce", "la", "bs", "lade", "pc"])
def test_label_shift_diagnostic_uses_each_methods_own_rule(kind):
    """The per-epoch diagnostic scored every method with the PC rule (LA, balanced softmax and LADE then
    subtracted log p_s twice); it must equal the model's own rule under a uniform test prior."""
    task = get("lt")
    data = LT.load_lt("synthetic-lt", 20.0, 0)
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((len(data.y_pool), data.n_classes)) + 3.0 * np.eye(data.n_classes)[data.y_pool]
    fold = type("F", (), {"ctx": {"data": data}})()
    got = task.diag(fold, logits, {"kind": kind})["test_acc_uniform"]
    uniform = np.full(data.n_classes, 1 / data.n_classes)
    scores = logits - np.log(data.prior) if kind == "pc" else logits  # + log(uniform) is a constant shift
    want = float(np.mean([(scores[data.y_pool == c].argmax(1) == c).mean() for c in range(data.n_classes)]))
    assert got == pytest.approx(want)
    assert got == pytest.approx(LT.accuracy_under_prior(kind, logits, data, uniform))


def test_ambiguous_unprefixed_set_is_refused(tmp_path, capsys):
    from ildl.cli import main

    argv = ["run", "--dataset", "synthetic", "--method", "rda,dildl", "--set", "gamma=1", "--out",
            str(tmp_path / "r.csv"), "--no-save", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "ambiguous" in err and "rda.gamma" in err and "dildl.gamma" in err
