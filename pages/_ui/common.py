"""What every page shares: the job registry and the visitor, cached data, the sidebar, the run on view and
the saved-runs panel. One namespace for the pages: the URL state (`state`) and the widgets (`widgets`) are
re-exported here. No training math here — that all lives in `ildl`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from ildl import data as D
from pages._ui.state import (  # noqa: F401
    DATASETS,
    DEFAULTS,
    PAGES,
    PARAM_PREFIX,
    PROTOCOLS,
    SIDEBAR_TASK,
    TASKS,
    UPLOAD,
    URL_STATE,
    params_from_url,
    params_to_url,
    parse_thresholds,
    state,
    sync_url,
)
from pages._ui.state import sidebar_methods as methods
from pages._ui.widgets import EXPORTS, control, export_config, friendly_errors, param_control, param_widget, plot  # noqa: F401

if TYPE_CHECKING:  # the training stack (torch, scikit-learn) loads in the background, not before the first paint
    from ildl.jobs import JobRegistry
    from ildl.protocol import Protocol

def method_title(m: str) -> str:
    from ildl.methods import REGISTRY

    cls = REGISTRY[m].cls
    tag = {"classic": " · classic LDL", "ildl": " · ILDL"}.get(cls.family, "")
    return REGISTRY[m].title.split(" — ")[0] + tag


# --------------------------------------------------------------------------- resources
@st.cache_resource
def registry() -> "JobRegistry":
    """One job registry per server process: jobs outlive a browser refresh (their id is in the URL).

    Torch's intra-op threads are capped at cores − 1 in the app: the MLPs here are small, and an OpenMP
    pool spinning on every core starves the server thread that draws the page (measured in
    bench/ui_overhead.py)."""
    import os

    import torch

    from ildl.jobs import JobRegistry
    from ildl.runs import RunStore

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    return JobRegistry(RunStore())  # marks runs a crash left 'running' as interrupted, with their progress


def owner() -> str:
    """Who this browser is, for run ownership: a hash of Streamlit's XSRF cookie (the same across refreshes
    and tabs of one browser, different for another browser), else a token of this session."""
    import hashlib
    import secrets

    try:
        cookie = st.context.cookies.get("_streamlit_xsrf")
    except Exception:  # noqa: BLE001 — no request context (AppTest)
        cookie = None
    if isinstance(cookie, str) and cookie:
        # Tornado's cookie is "2|mask|masked token|timestamp": the token unmasked is what stays the same
        parts = cookie.split("|")
        if len(parts) == 4 and parts[0] == "2":
            try:
                mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
                cookie = bytes(a ^ b for a, b in zip(masked, mask * (len(masked) // max(len(mask), 1) + 1))).hex()
            except ValueError:
                pass
        return hashlib.sha256(cookie.encode()).hexdigest()[:16]
    ss = st.session_state
    if "_owner" not in ss:
        ss["_owner"] = secrets.token_hex(8)
    return ss["_owner"]


def store_problem() -> bool:
    """Show why runs cannot be kept (e.g. ILDL_RUNS_DIR is a file); True when there is such a problem."""
    problem = registry().store.problem()
    if problem:
        st.error(f"Runs cannot be saved: {problem}. Training is off until that is fixed; the other pages work.")
    return bool(problem)


@st.cache_data(show_spinner="Loading dataset…", max_entries=6)  # a synthetic set can be 160 MB
def load_dataset(name: str, syn: tuple[tuple[str, Any], ...] = ()) -> D.Dataset:
    return D.load(name, **dict(syn)) if name == "synthetic" else D.load(name)


@st.cache_data(show_spinner=False, max_entries=32)
def protocol_for(_ds: D.Dataset, ds_key: str, name: str, thresholds: tuple | None, folds: int = 10) -> "Protocol":
    from ildl.protocol import make_protocol

    return make_protocol(_ds, name, folds=folds, thresholds=thresholds)


# --------------------------------------------------------------------------- sidebar and current data
def sidebar(page: str, show: tuple[str, ...] = ("dataset", "protocol", "method")) -> None:
    """The page links, the shared choices this page uses (dataset, protocol, method — the others are hidden,
    their values kept), the device; widget keys prefixed by `page`."""
    s = state()
    try:
        for pg in PAGES:
            st.sidebar.page_link(pg.path, label=pg.label, icon=pg.icon)
        st.sidebar.divider()
    except st.errors.StreamlitAPIException:  # a page run on its own (AppTest of one file) has no app to link to
        pass
    pending = st.session_state.pop("_pending_choice", {})
    for k, v in pending.items():  # set before the widget exists; it then takes no default (no double source)
        st.session_state[k] = v
    sb = st.sidebar
    sb.markdown("### Imbalanced LDL lab")

    def keep(key: str, name: str) -> None:  # Esc / ⊗ on a sidebar select keeps the choice it had
        if st.session_state.get(key) is None:
            st.session_state[key] = s[name]

    def choice(name: str, label: str, opts, **kw: Any) -> None:
        key = f"{page}_sb_{name}"
        if name not in show:
            return
        opts = opts() if callable(opts) else opts
        if s.get(name) not in opts:
            s[name] = DEFAULTS[name]
        if st.session_state.get(key) not in opts:
            st.session_state[key] = s[name]
        v = sb.selectbox(label, opts, index=None, key=key, on_change=keep, args=(key, name), **kw)
        s[name] = v if v in opts else s[name]

    before = s["dataset"]
    choice("dataset", "Dataset", DATASETS,
           help="'synthetic' is the fast teaching generator (controls on the Data page); 'upload' takes your own "
                ".mat / .npz / .csv on the Data page")
    if s["dataset"] != before:
        s["thresholds"] = None  # custom ILDL thresholds belong to the dataset they were typed for
    choice("protocol", "Protocol", PROTOCOLS, help="ildl: the papers' imbalanced training sets with untouched test "
                                                   "folds; kfold: plain shuffled 10-fold")
    choice("method", "Method", methods, format_func=method_title,
           help="the label-distribution method the Train page trains")
    sb.caption(f"Device: **{device_line(wait=page != 'home')}**")
    s["export"] = sb.radio("Chart export (each chart's camera button)", list(EXPORTS), horizontal=True,
                           index=list(EXPORTS).index(s.get("export", "SVG")) if s.get("export") in EXPORTS else 0,
                           key=f"{page}_sb_export", help="figures for a paper: vector SVG, or PNG at 4× resolution")
    if s.pop("_upload_lost", False):
        st.info("The link named an uploaded dataset; uploads are kept for one browser session only, so this view "
                "shows the synthetic dataset. Upload the file again on the Data page.")
    sync_url()


def set_choice(name: str, value: Any, page: str) -> None:
    """Change a sidebar choice from page code (e.g. after an upload) and rerun so the widget shows it."""
    state()[name] = value
    st.session_state["_pending_choice"] = {f"{page}_sb_{name}": value}  # applied before the widget exists
    st.rerun()


@st.cache_resource
def _warm() -> dict[str, Any]:
    """Once per server: a thread that imports the training stack and finds the device, so that the first page
    paints from light imports (its script starts the thread last, `warm_up`) and fills in the device line later."""
    import threading

    box: dict[str, Any] = {"lock": threading.Lock()}

    def work() -> None:
        from ildl import jobs  # noqa: F401 — torch, scikit-learn, the registries
        from ildl.device import describe

        box["line"] = describe("auto")

    box["thread"] = threading.Thread(target=work, name="ildl-warm-up", daemon=True)
    return box


def warm_up() -> None:
    """Start the background warm-up (once); the Home page calls it after drawing, every other page at once."""
    box = _warm()
    with box["lock"]:
        if not box["thread"].is_alive() and "line" not in box and not box.get("started"):
            box["started"] = True
            box["thread"].start()


def device_line(wait: bool = True) -> str:
    """The device in one line; without `wait`, "detecting…" until the background warm-up has found it."""
    box = _warm()
    if "line" not in box and wait:
        warm_up()
        box["thread"].join()
    return box.get("line", "detecting… (loading the training libraries)")


def dataset_key() -> str:
    s = state()
    if s["dataset"] == "synthetic":
        return "synthetic:" + ",".join(f"{k}={v}" for k, v in sorted(s["syn"].items()))
    if s["dataset"] == UPLOAD:
        up = st.session_state.get("upload")
        return f"upload:{up['name']}:{up['hash']}" if up else "upload:none"
    return s["dataset"]


def current_dataset() -> D.Dataset | None:
    """The dataset chosen in the sidebar (None, with a message, when an upload is missing)."""
    s = state()
    if s["dataset"] == UPLOAD:
        up = st.session_state.get("upload")
        if not up:
            st.info("No dataset uploaded yet: upload a .mat, .npz or .csv on the **Data** page.")
            return None
        return up["dataset"]
    if s["dataset"] == "synthetic":
        return load_dataset("synthetic", tuple(sorted(s["syn"].items())))
    return load_dataset(s["dataset"])


def thresholds_for(ds: D.Dataset) -> tuple | None:
    """The session's ILDL thresholds when they fit this dataset (label indices inside its labels), else the
    dataset's own; thresholds that do not fit (e.g. ?thresholds=1,2,99,0) are dropped with a message."""
    s = state()
    th = s.get("thresholds")
    if th:
        try:
            D.check_thresholds(th, ds.n_labels)
        except D.DataError as e:
            s["thresholds"] = None
            sync_url()
            st.warning(f"Ignoring the thresholds {','.join(f'{v:g}' for v in th)}: {e}; using "
                       f"{'the dataset’s own' if ds.thresholds else 'none'}.")
            return ds.thresholds
    return th or ds.thresholds


def current_protocol(ds: D.Dataset) -> tuple[Protocol | None, str]:
    """(protocol, note). Under ILDL a dataset without known thresholds falls back to K-fold, said aloud."""
    s = state()
    name, th = s["protocol"], thresholds_for(ds)
    note = ""
    if name == "ildl" and th is None:
        name = "kfold"
        note = (f"{ds.name} has no built-in ILDL thresholds: showing plain K-fold. Enter thresholds a,b,c,d on the "
                "Data page to apply the ILDL filter.")
    return protocol_for(ds, dataset_key(), name, th), note


def run_config_base(ds: D.Dataset) -> dict[str, Any]:
    """The dataset/protocol part of a job config, from the shared state."""
    s = state()
    proto, _ = current_protocol(ds)
    cfg: dict[str, Any] = dict(protocol=proto.name, thresholds=list(proto.thresholds) if proto.thresholds else None)
    if s["dataset"] == "synthetic":
        cfg.update(dataset="synthetic", dataset_kw=dict(s["syn"]))
    elif s["dataset"] == UPLOAD:
        cfg.update(dataset=f"upload:{ds.name}")
    else:
        cfg.update(dataset=s["dataset"])
    return cfg
