"""Shared Streamlit glue for every page: app state, the sidebar, cached data, widgets from declared
params, the job registry. No training math here — that all lives in `ildl`.

State: `st.session_state["app"]` holds the choices shared by all pages (dataset, protocol, method,
synthetic controls, current run id); the URL's query parameters mirror them, so a link reproduces
the view. Widget keys are prefixed per page; values persist through the state dict, not the keys.
"""
from __future__ import annotations

import traceback
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import streamlit as st

from ildl import data as D
from ildl.config import Param

if TYPE_CHECKING:  # the training stack (torch, scikit-learn) loads in the background, not before the first paint
    from ildl.jobs import JobRegistry
    from ildl.protocol import Protocol

NAV = (("app.py", "Home", ":material/home:"), ("pages/1_Data.py", "Data", ":material/dataset:"),
       ("pages/2_Train.py", "Train", ":material/model_training:"),
       ("pages/3_Decoupling.py", "Decoupling", ":material/call_split:"),
       ("pages/4_Soft_labels.py", "Soft labels", ":material/tune:"),
       ("pages/5_Ablation.py", "Ablation", ":material/science:"), ("pages/6_Compare.py", "Compare", ":material/compare:"),
       ("pages/7_Label_shift.py", "Label shift", ":material/swap_horiz:"))
UPLOAD = "upload"
DATASETS = ["synthetic", *D.bundled_names(), UPLOAD]
PROTOCOLS = ["ildl", "kfold"]


def methods() -> list[str]:
    """The label-distribution methods of the registry (imports the training stack)."""
    from ildl.tasks import methods as task_methods

    return task_methods(SIDEBAR_TASK)


def method_title(m: str) -> str:
    from ildl.methods import REGISTRY

    cls = REGISTRY[m].cls
    tag = {"classic": " · classic LDL", "ildl": " · ILDL"}.get(cls.family, "")
    return REGISTRY[m].title.split(" — ")[0] + tag


TASKS = ("ldl", "dir", "lt")  # ildl.tasks.TASKS, named here so that the first paint need not import the training stack
SIDEBAR_TASK = "ldl"  # the task whose dataset, protocol and method the sidebar holds (label distributions)
DEFAULTS = dict(dataset="synthetic", protocol="ildl", method="ldl-kl", run=None, thresholds=None, study_run=None,
                task=SIDEBAR_TASK)


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


# --------------------------------------------------------------------------- state and URL
def state() -> dict[str, Any]:
    """The shared app state, initialised once per session from the URL."""
    ss = st.session_state
    if "app" not in ss:
        qp = st.query_params
        s = dict(DEFAULTS)
        s["syn"] = dict(D.SYNTHETIC_DEFAULTS)
        if qp.get("dataset") in DATASETS and qp.get("dataset") != UPLOAD:
            s["dataset"] = qp["dataset"]
        elif qp.get("dataset") == UPLOAD:  # an upload lives in one session only: say so instead of a silent switch
            s["_upload_lost"] = True
        if qp.get("protocol") in PROTOCOLS:
            s["protocol"] = qp["protocol"]
        if qp.get("method") and qp.get("method") in methods():
            s["method"] = qp["method"]
        if qp.get("task") in TASKS:
            s["task"] = qp["task"]
        if qp.get("run"):
            s["run"] = qp["run"]
        if qp.get("study_run"):
            s["study_run"] = qp["study_run"]
        if qp.get("thresholds"):
            s["thresholds"] = parse_thresholds(qp["thresholds"])
        for p in D.SYNTHETIC_PARAMS:
            if f"syn_{p.name}" in qp:
                try:
                    s["syn"][p.name] = p.coerce(qp[f"syn_{p.name}"])
                except ValueError:
                    pass
        ss["app"] = s
    return ss["app"]


def parse_thresholds(text: str) -> tuple[float, float, int, int] | None:
    """a,b,c,d from a URL or a text box; None (the caller says so) when it is not four valid numbers."""
    try:
        return D.parse_thresholds(text)
    except ValueError:
        return None


PAGE_KEYS = ("data_", "train_", "dec_", "soft_", "abl_", "cmp_", "shift_")  # page controls keep their own keys


def sync_url() -> None:
    """Mirror the shared state into the query string (defaults are left out to keep links short)."""
    s = state()
    want: dict[str, str] = {}
    for k in ("dataset", "protocol", "method", "task"):
        if s[k] != DEFAULTS[k]:
            want[k] = str(s[k])
    for k in ("run", "study_run"):
        if s.get(k):
            want[k] = s[k]
    if s.get("thresholds"):
        want["thresholds"] = ",".join(f"{v:g}" for v in s["thresholds"])
    if s["dataset"] == "synthetic":
        for p in D.SYNTHETIC_PARAMS:
            if s["syn"][p.name] != p.default:
                want[f"syn_{p.name}"] = str(s["syn"][p.name])
    qp = st.query_params
    for k in list(qp.keys()):
        if k not in want and not k.startswith((PARAM_PREFIX, *PAGE_KEYS)):  # page controls are kept by their page
            del qp[k]
    for k, v in want.items():
        if qp.get(k) != v:
            qp[k] = v


PARAM_PREFIX = "p_"


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


# --------------------------------------------------------------------------- page controls mirrored in the URL
def _refill(key: str, default: Any) -> None:
    """on_change of a seeded control: an emptied number box goes back to its default; an emptied choice (Esc or
    ⊗ in a select) keeps the value it had, so no control ever reads None."""
    ss = st.session_state
    if ss.get(key) is None:
        ss[key] = ss.get(f"_last_{key}", default)


def control(kind: str, label: str, key: str, default: Any, *, container=None, cast=None, url: bool = True,
            **kw: Any) -> Any:
    """A widget whose value lives in the URL as ?<key>=…, so a link restores the exact view. On the session's
    first run the URL's value (cast and checked by the widget's own options / range) seeds the widget; a value
    that does not fit is ignored with a message. Non-default values are written back; defaults are left out.
    kind: slider | number | select | radio | select_slider | toggle | text | multiselect."""
    container = container or st
    ss, qp = st.session_state, st.query_params
    cast = cast or (type(default) if default is not None and not isinstance(default, (list, tuple)) else str)
    if url and key not in ss and key in qp:
        try:
            raw = qp.get_all(key) if kind == "multiselect" else qp[key]
            v = [cast(x) for x in raw] if kind == "multiselect" else (
                str(raw).lower() in ("1", "true", "yes") if kind == "toggle" else cast(raw))
            if isinstance(v, float) and not np.isfinite(v):
                raise ValueError
            opts = kw.get("options")
            if opts is not None and (any(x not in opts for x in v) if kind == "multiselect" else v not in opts):
                raise ValueError
            lo, hi = kw.get("min_value"), kw.get("max_value")
            if kind in ("slider", "number") and ((lo is not None and v < lo) or (hi is not None and v > hi)):
                raise ValueError
            ss[key] = v
        except (ValueError, TypeError):
            st.warning(f"Ignoring {key}={qp.get(key)!r} from the URL: not a valid value.")
    seeded = key in ss
    if kind not in ("multiselect", "toggle") and "on_change" not in kw:
        # seeded widgets are drawn with value=None (the session holds the value), which lets a reader clear them
        # (the ⊗ in a number box, Esc in a select); `_refill` puts a value back instead of None
        kw.update(on_change=_refill, args=(key, default))
    if kind == "slider":
        v = container.slider(label, value=None if seeded else default, key=key, **kw)
    elif kind == "number":
        v = container.number_input(label, value=None if seeded else default, key=key, **kw)
    elif kind == "select":
        opts = list(kw.pop("options"))
        v = container.selectbox(label, opts, index=None if seeded else opts.index(default), key=key, **kw)
    elif kind == "radio":
        opts = list(kw.pop("options"))
        v = container.radio(label, opts, index=None if seeded else opts.index(default), key=key, **kw)
    elif kind == "select_slider":
        v = container.select_slider(label, value=None if seeded else default, key=key, **kw)
    elif kind == "toggle":
        v = container.toggle(label, value=False if seeded else bool(default), key=key, **kw)
    elif kind == "multiselect":
        opts = list(kw.pop("options"))
        v = container.multiselect(label, opts, default=None if seeded else list(default), key=key, **kw)
    else:
        v = container.text_input(label, value=None if seeded else default, key=key, **kw)
    if v is None and kind not in ("multiselect", "toggle"):
        v = ss.get(f"_last_{key}", default) if kind in ("select", "radio") else default
    if kind in ("select", "radio"):
        ss[f"_last_{key}"] = v  # what Esc / ⊗ restores
    if url:
        if (list(v) if kind == "multiselect" else v) == (list(default) if kind == "multiselect" else default):
            if key in qp:
                del qp[key]
        elif kind == "multiselect":
            qp[key] = [str(x) for x in v]
        elif qp.get(key) != str(v):
            qp[key] = str(v)
    return v


# --------------------------------------------------------------------------- charts
EXPORTS = {"SVG": dict(format="svg", scale=1), "PNG, print (4×)": dict(format="png", scale=4)}


def export_config(name: str = "") -> dict[str, Any]:
    """Plotly's config for every chart: its camera button downloads in the reader's chosen format (sidebar)."""
    fmt = EXPORTS.get(st.session_state.get("app", {}).get("export", ""), EXPORTS["SVG"])
    return {"displaylogo": False, "toImageButtonOptions": {**fmt, "filename": name or "ildl-figure"}}


def plot(container, fig, key: str | None = None, **kw: Any) -> None:
    """st.plotly_chart with the export settings (SVG or print-resolution PNG from the chart's camera button)."""
    container.plotly_chart(fig, key=key, config=export_config(key or ""), **kw)


# --------------------------------------------------------------------------- widgets
def param_widget(p: Param, value: Any, key: str, container=st) -> Any:
    """The widget for a declared parameter; returns the (coerced) value."""
    label = p.name
    if p.kind == "bool":
        return container.toggle(label, value=bool(value), key=key, help=p.help)
    if p.kind == "choice":
        opts = list(p.choices)
        return container.selectbox(label, opts, index=opts.index(value) if value in opts else 0, key=key, help=p.help)
    lo, hi = p.min, p.max
    if p.kind == "int":
        if lo is not None and hi is not None and p.step and (hi - lo) / p.step <= 400:
            return int(container.slider(label, int(lo), int(hi), int(value), int(p.step), key=key, help=p.help))
        return int(container.number_input(label, min_value=int(lo) if lo is not None else None,
                                          max_value=int(hi) if hi is not None else None, value=int(value),
                                          step=int(p.step or 1), key=key, help=p.help))
    if lo is not None and hi is not None and p.step and not p.log and (hi - lo) / p.step <= 400:
        return float(container.slider(label, float(lo), float(hi), float(value), float(p.step), key=key, help=p.help))
    return float(container.number_input(label, min_value=float(lo) if lo is not None else None,
                                        max_value=float(hi) if hi is not None else None, value=float(value),
                                        format="%.4g", key=key, help=p.help))


def param_control(p: Param, key: str, container=None) -> Any:
    """A declared parameter as a URL-backed control (`control`): ?<key>=<value> restores it."""
    kw: dict[str, Any] = dict(container=container, help=p.help)
    if p.kind == "bool":
        return bool(control("toggle", p.name, key, bool(p.default), **kw))
    if p.kind == "choice":
        return control("select", p.name, key, p.default, options=list(p.choices), cast=type(p.default), **kw)
    lo, hi, cast = p.min, p.max, (int if p.kind == "int" else float)
    bounds = dict(min_value=cast(lo) if lo is not None else None, max_value=cast(hi) if hi is not None else None)
    if lo is not None and hi is not None and p.step and not p.log and (hi - lo) / p.step <= 400:
        return cast(control("slider", p.name, key, cast(p.default), cast=cast, step=cast(p.step), **bounds, **kw))
    extra = dict(step=int(p.step or 1)) if cast is int else dict(format="%.4g")
    return cast(control("number", p.name, key, cast(p.default), cast=cast, **bounds, **extra, **kw))


@contextmanager
def friendly_errors(what: str = "") -> Iterator[None]:
    """Show bad input or a failed computation as a message; the page stays usable (no stack trace)."""
    try:
        yield
    except D.DataError as e:
        st.error(str(e))
    except ValueError as e:
        st.error(f"{what + ': ' if what else ''}{e}")
    except Exception as e:  # noqa: BLE001 — a page must never show a traceback
        st.error(f"{what + ' failed' if what else 'Something went wrong'}: {type(e).__name__}: {e}")
        print(traceback.format_exc())


# --------------------------------------------------------------------------- sidebar and current data
def sidebar(page: str, show: tuple[str, ...] = ("dataset", "protocol", "method")) -> None:
    """The page links, the shared choices this page uses (dataset, protocol, method — the others are hidden,
    their values kept), the device; widget keys prefixed by `page`."""
    s = state()
    try:
        for path, label, icon in NAV:
            st.sidebar.page_link(path, label=label, icon=icon)
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


def adopt_run(page: str) -> None:
    """When the run on view changes (a deep link, Open, Start), set the Train page's controls to that run's
    configuration, so that the controls describe the run shown. Call before the sidebar is drawn."""
    from ildl import tasks
    from ildl.compare import trained_method
    from ildl.methods import parse

    s, ss = state(), st.session_state
    rid = s.get("run")
    if not rid:
        return
    again = ss.get("_adopted_run") == rid
    if again and f"{page}_pace" in ss:
        return
    # `again`: the reader left the page and came back — Streamlit dropped the page's widget values, so only
    # those are set from the run again (the sidebar and the method keep what the reader chose meanwhile)
    ss["_adopted_run"] = rid
    cfg = _run_config(rid)
    if cfg is None or cfg.get("study"):
        return
    task = cfg.get("task", SIDEBAR_TASK)
    name = trained_method(cfg)
    try:
        spec = parse(name, task)
    except ValueError:
        return
    if spec.constant:
        return
    if again:
        _adopt_controls(page, cfg, task, spec)
        return
    pending = ss.setdefault("_pending_choice", {})
    s["task"] = ss[f"{page}_task"] = task
    if task == SIDEBAR_TASK:
        s["method"] = pending[f"{page}_sb_method"] = spec.base
        _adopt_data(page, cfg, pending)
    else:
        ss[f"{page}_{task}_method"] = spec.base
        ss[f"{page}_{task}_data"] = cfg.get("dataset")
        for p in tasks.get(task).options:
            if p.name in cfg:
                ss[f"{page}_{task}_{p.name}"] = cfg[p.name]
    schema = {p.name for p in spec.entry.schema()}
    given = (cfg.get("settings") or {}).get(name, {})
    ss.setdefault("settings", {})[f"{task}:{spec.base}"] = {k: v for k, v in given.items() if k in schema}
    ss["train_nonce"] = ss.get("train_nonce", 0) + 1  # parameter widgets are re-created with these values
    _adopt_controls(page, cfg, task, spec)
    ss["_url_params_read"] = True  # the run's settings, not the link's p_ values, fill the widgets


def _adopt_controls(page: str, cfg: dict[str, Any], task: str, spec) -> None:
    """The Train page's own controls (folds, seed, diagnostic, pace, rule, prior corrections) from a run config."""
    ss = st.session_state
    ss[f"{page}_folds_{task}"] = list(cfg.get("fold_ids") or [0])
    ss[f"{page}_seed"] = int(cfg.get("seed", 0))
    ss[f"{page}_diag"] = bool(cfg.get("diagnostic"))
    ss[f"{page}_pace"] = float(cfg.get("pace") or 0.0)
    if task == SIDEBAR_TASK:
        ss[f"{page}_pc"], ss[f"{page}_la"], ss[f"{page}_shrink"] = spec.pc, spec.la, spec.shrink
        if cfg.get("select"):
            ss[f"{page}_select"] = cfg["select"][0]


def _adopt_data(page: str, cfg: dict[str, Any], pending: dict[str, Any]) -> None:
    """The sidebar's dataset (and generator settings) and protocol from a run config (uploads cannot be restored)."""
    s = state()
    if not str(cfg.get("dataset", "")).startswith("upload:") and cfg.get("dataset") in DATASETS:
        s["dataset"] = pending[f"{page}_sb_dataset"] = cfg["dataset"]
        if cfg["dataset"] == "synthetic":
            s["syn"] = {**D.SYNTHETIC_DEFAULTS, **(cfg.get("dataset_kw") or {})}
    if cfg.get("protocol") in PROTOCOLS:
        s["protocol"] = pending[f"{page}_sb_protocol"] = cfg["protocol"]


def _run_config(run_id: str) -> dict[str, Any] | None:
    """A run's config, live from its job or from disk (None when it is gone or damaged)."""
    try:
        job = registry().get(run_id)
        return job.config if job is not None else registry().store.config(run_id)
    except (OSError, ValueError):
        return None


def adopt_study(page: str) -> None:
    """When the study on view changes (a link with study_run=…, Open), set the Ablation page's controls — study,
    dataset, protocol, folds, seed, epochs, chunk — to that study's run config, so Start would repeat it and
    the heading names what the table shows. Call before the sidebar is drawn."""
    from ildl import studies
    from ildl.tasks import get as get_task

    s, ss = state(), st.session_state
    rid = s.get("study_run")
    if not rid or ss.get("_adopted_study") == rid:
        return
    ss["_adopted_study"] = rid
    cfg = _run_config(rid)
    if not isinstance(cfg, dict) or cfg.get("study") not in studies.STUDIES:
        return
    study = studies.STUDIES[cfg["study"]]
    task = study.task
    ss[f"{page}_study"] = ss[f"_last_{page}_study"] = cfg["study"]
    pending = ss.setdefault("_pending_choice", {})
    if task == SIDEBAR_TASK:
        _adopt_data(page, cfg, pending)
    elif cfg.get("dataset") in get_task(task).datasets:
        ss[f"{page}_data_{task}"] = cfg["dataset"]
    ss[f"{page}_folds_{task}"] = list(cfg.get("fold_ids") or range(int(cfg.get("folds") or 1)))
    ss[f"{page}_seed"] = int(cfg.get("seed", 0))
    ss[f"{page}_epochs"] = int(((cfg.get("settings") or {}).get("*") or {}).get("epochs", 0) or 0)
    if cfg.get("chunk_folds"):
        ss[f"{page}_chunk"] = int(cfg["chunk_folds"])


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


def run_view(run_id: str) -> dict[str, Any] | None:
    """A run's view (live or from disk) for a polling fragment; a message when it has gone or is damaged."""
    try:
        v = registry().view(run_id)
    except Exception as e:  # noqa: BLE001 — whatever is on disk, the page stays up
        v = dict(id=run_id, status="damaged", error=f"{type(e).__name__}: {e}", config=None)
    if v is None:
        st.warning(f"Run {run_id} is not here any more.")
    elif v["status"] == "damaged":
        st.error(f"Run {run_id} is damaged ({v.get('error')}): it cannot be shown. Delete it under Saved runs.")
        return None
    return v


def saved_runs(page: str, state_key: str, studies: bool) -> None:
    """The saved-runs panel (Train: runs, Ablation: studies): open, download, delete. A damaged run is listed
    with its reason and can be deleted; only the browser that started a run may delete it."""
    from ildl.runs import dumps

    s = state()
    reg = registry()
    runs = [r for r in reg.store.list() if bool(r.get("study")) == studies or r.get("damaged")]
    if not runs:
        st.caption("No studies yet." if studies else "No runs yet.")
        return
    from ildl.compare import run_titles

    titles = run_titles(runs)
    st.dataframe([{"run": titles[r["id"]], "status": r["status"], "dataset": r["dataset"],
                   "study" if studies else "methods": r["study"] if studies else r["methods"],
                   "id": r["id"], "problem": r.get("damaged") or ""} for r in runs], hide_index=True,
                 height=min(300, 40 + 35 * len(runs)))
    ids = [r["id"] for r in runs]
    pick = st.selectbox("run", ids, index=ids.index(s[state_key]) if s.get(state_key) in ids else 0,
                        key=f"{page}_pick", format_func=lambda rid: f"{titles.get(rid, rid)} · {rid}")
    info = next(r for r in runs if r["id"] == pick)
    c = st.columns(4)
    if c[0].button("Open", key=f"{page}_open", disabled=bool(info.get("damaged"))):
        s[state_key] = pick
        sync_url()
        st.rerun()
    if not info.get("damaged"):
        c[1].download_button("results.csv", reg.store.results_csv(pick) or "no results yet\n",
                             file_name=f"{pick}-results.csv", mime="text/csv", key=f"{page}_dl_csv")
        c[2].download_button("config.json", dumps(reg.store.config(pick)), file_name=f"{pick}-config.json",
                             mime="application/json", key=f"{page}_dl_cfg")
    live_job = reg.get(pick)
    allowed = reg.may_control(pick, owner())
    if c[3].button("Delete", key=f"{page}_delete", disabled=bool(live_job and live_job.running) or not allowed,
                   help=None if allowed else "only the browser that started this run may delete it"):
        if reg.delete(pick, owner()) and s.get(state_key) == pick:
            s[state_key] = None
            sync_url()
        st.rerun()


def finished_runs_for(ds: D.Dataset) -> list[dict[str, Any]]:
    """Finished runs trained on the current dataset (same name and generator settings), newest first."""
    want = run_config_base(ds)
    store = registry().store
    out = []
    for r in store.list():
        if r["status"] not in ("done", "stopped") or r.get("damaged"):
            continue
        try:
            cfg = store.config(r["id"])
        except (OSError, ValueError):
            continue
        if cfg.get("dataset") == want["dataset"] and (cfg.get("dataset_kw") or {}) == (want.get("dataset_kw") or {}):
            out.append(dict(r, config=cfg))
    return out
