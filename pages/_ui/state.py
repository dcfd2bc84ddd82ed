"""The URL state of the app in one table: what the query string carries, its default, how a value is read
from a link and written back, and which page keeps its own controls under which prefix.

Shared choices (dataset, protocol, method, task, the run and study on view, ILDL thresholds, the synthetic
generator's knobs) live in `st.session_state["app"]`, read from the URL once per session and mirrored back
(defaults left out, so links stay short). A page's own controls are URL-backed by `widgets.control` under the
page's key prefix; a method's parameters under `p_<name>` on the Train page.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from ildl import data as D


@dataclass(frozen=True)
class Page:
    path: str
    label: str
    icon: str
    prefix: str  # the page's own URL / widget keys start with it


PAGES = (Page("app.py", "Home", ":material/home:", "home_"),
         Page("pages/1_Data.py", "Data", ":material/dataset:", "data_"),
         Page("pages/2_Train.py", "Train", ":material/model_training:", "train_"),
         Page("pages/3_Decoupling.py", "Decoupling", ":material/call_split:", "dec_"),
         Page("pages/4_Soft_labels.py", "Soft labels", ":material/tune:", "soft_"),
         Page("pages/5_Ablation.py", "Ablation", ":material/science:", "abl_"),
         Page("pages/6_Compare.py", "Compare", ":material/compare:", "cmp_"),
         Page("pages/7_Label_shift.py", "Label shift", ":material/swap_horiz:", "shift_"))
PARAM_PREFIX = "p_"  # a method's declared parameters on the Train page: ?p_<name>=…

UPLOAD = "upload"
DATASETS = ["synthetic", *D.bundled_names(), UPLOAD]
PROTOCOLS = ["ildl", "kfold"]
TASKS = ("ldl", "dir", "lt")  # ildl.tasks.TASKS, named here so that the first paint need not import the training stack
SIDEBAR_TASK = "ldl"  # the task whose dataset, protocol and method the sidebar holds (label distributions)


def sidebar_methods() -> list[str]:
    """The label-distribution methods of the registry (imports the training stack)."""
    from ildl.tasks import methods as task_methods

    return task_methods(SIDEBAR_TASK)


def _one_of(options: Callable[[], Any] | Any) -> Callable[[str], str]:
    def read(raw: str) -> str:
        if raw not in (options() if callable(options) else options):
            raise ValueError(raw)
        return raw
    return read


@dataclass(frozen=True)
class UrlKey:
    """One shared choice in the query string: `read` turns a link's text into a value (ValueError: ignored),
    `write` a value into text."""
    name: str
    default: Any
    read: Callable[[str], Any]
    write: Callable[[Any], str] = str


URL_STATE = (
    UrlKey("dataset", "synthetic", _one_of([d for d in DATASETS if d != UPLOAD])),
    UrlKey("protocol", "ildl", _one_of(PROTOCOLS)),
    UrlKey("method", "ldl-kl", _one_of(sidebar_methods)),
    UrlKey("task", SIDEBAR_TASK, _one_of(TASKS)),
    UrlKey("run", None, str),
    UrlKey("study_run", None, str),
    UrlKey("thresholds", None, D.parse_thresholds, write=lambda th: ",".join(f"{v:g}" for v in th)),
)
DEFAULTS = {u.name: u.default for u in URL_STATE}
SYNTHETIC_PREFIX = "syn_"  # the generator's knobs (ildl.data.SYNTHETIC_PARAMS): ?syn_<name>=…, while synthetic


def state() -> dict[str, Any]:
    """The shared app state, initialised once per session from the URL."""
    ss = st.session_state
    if "app" not in ss:
        qp = st.query_params
        s = dict(DEFAULTS)
        s["syn"] = dict(D.SYNTHETIC_DEFAULTS)
        if qp.get("dataset") == UPLOAD:  # an upload lives in one session only: say so instead of a silent switch
            s["_upload_lost"] = True
        for u in URL_STATE:
            raw = qp.get(u.name)
            if raw:
                try:
                    s[u.name] = u.read(raw)
                except ValueError:  # a value that does not fit is dropped (thresholds: said where they are used)
                    pass
        for p in D.SYNTHETIC_PARAMS:
            if SYNTHETIC_PREFIX + p.name in qp:
                try:
                    s["syn"][p.name] = p.coerce(qp[SYNTHETIC_PREFIX + p.name])
                except ValueError:
                    pass
        ss["app"] = s
    return ss["app"]


def sync_url() -> None:
    """Mirror the shared state into the query string (defaults left out); page and parameter keys are kept."""
    s = state()
    want: dict[str, str] = {u.name: u.write(s[u.name]) for u in URL_STATE
                            if s.get(u.name) is not None and s[u.name] != u.default}
    if s["dataset"] == "synthetic":
        for p in D.SYNTHETIC_PARAMS:
            if s["syn"][p.name] != p.default:
                want[SYNTHETIC_PREFIX + p.name] = str(s["syn"][p.name])
    qp = st.query_params
    kept = (PARAM_PREFIX, *(pg.prefix for pg in PAGES))  # page controls are kept by their page
    for k in list(qp.keys()):
        if k not in want and not k.startswith(kept):
            del qp[k]
    for k, v in want.items():
        if qp.get(k) != v:
            qp[k] = v


def parse_thresholds(text: str) -> tuple[float, float, int, int] | None:
    """a,b,c,d from a URL or a text box; None (the caller says so) when it is not four valid numbers."""
    try:
        return D.parse_thresholds(text)
    except ValueError:
        return None


def params_from_url(schema, values: dict[str, Any]) -> None:
    """Take declared parameters from the query string (`p_<name>`) on the session's first Train run only:
    the link's method is then the current one, and later method switches do not inherit its values."""
    if st.session_state.get("_url_params_read"):
        return
    st.session_state["_url_params_read"] = True
    for p in schema:
        raw = st.query_params.get(PARAM_PREFIX + p.name)
        if raw is not None:
            try:
                values[p.name] = p.coerce(raw)
            except ValueError:
                st.warning(f"Ignoring {PARAM_PREFIX}{p.name}={raw!r} from the URL: not a valid value.")


def params_to_url(schema, values: dict[str, Any]) -> None:
    """Write the current method's non-default parameters into the query string; drop every other `p_` key."""
    qp = st.query_params
    want = {PARAM_PREFIX + p.name: str(values.get(p.name, p.default)) for p in schema
            if values.get(p.name, p.default) != p.default}
    for k in [k for k in qp.keys() if k.startswith(PARAM_PREFIX) and k not in want]:
        del qp[k]
    for k, v in want.items():
        if qp.get(k) != v:
            qp[k] = v
