"""Train: set up a run and start it in a background thread; the run on view fills in live — losses, AMEMA's
branch weights and momenta, validation (and, as a diagnostic, test) curves, results — and replays afterwards."""

import streamlit as st

from ildl import selection as SEL
from ildl import tasks, viz
from ildl.compare import describe, trained_method
from ildl.jobs import plan_and_check
from ildl.methods import REGISTRY
from ildl.report import verdicts
from ildl.runs import dumps
from pages._ui import adopt, diagnosis, regime, replay
from pages._ui import background as bg
from pages._ui import common as ui
from pages._ui.live_chart import live_chart

PAGE = "train"
POLL_SECONDS = 1.0  # live charts redraw once a second; faster polling costs the training thread
PACES = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)  # seconds per epoch, at least
st.set_page_config(page_title="Train · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
s = ui.state()
ss = st.session_state
ss.setdefault("settings", {})
ss.setdefault("train_nonce", 0)
adopt.adopt_run(PAGE)  # a run opened by link or from the list sets the controls below to its configuration
reg = ui.registry()

TASK_NAMES = list(tasks.TASKS)
task = s["task"]
ui.sidebar(PAGE, show=("dataset", "protocol", "method") if task == ui.SIDEBAR_TASK else ())
st.title("Train")
task = st.radio("Task", TASK_NAMES, index=TASK_NAMES.index(s["task"]) if f"{PAGE}_task" not in ss else None,
                format_func=lambda t: tasks.get(t).title, horizontal=True, key=f"{PAGE}_task")
if task != s["task"]:
    s["task"] = task
    ui.sync_url()
    st.rerun()  # the sidebar shows the choices this task uses
T = tasks.get(task)


# ---------------------------------------------------------------- the next run: task, data, method
task_cfg: dict = {}
if task == ui.SIDEBAR_TASK:  # label distributions take dataset, protocol and method from the sidebar
    method = s["method"]
    entry = REGISTRY[method]
    st.markdown(f"**{entry.title}**  \n{entry.paper}  \nDataset, protocol and method: the sidebar.")
else:
    names = tasks.methods(task)
    c = st.columns(2 + len(T.options))
    method = ui.control("select", "method", f"{PAGE}_{task}_method", T.default_method, container=c[0], options=names,
                        format_func=lambda m: REGISTRY[m].title.split(" — ")[0])
    ds_name = ui.control("select", "data", f"{PAGE}_{task}_data", list(T.datasets)[0], container=c[1],
                         options=list(T.datasets))
    opts = {p.name: ui.param_control(p, f"{PAGE}_{task}_{p.name}", container=c[2 + i])
            for i, p in enumerate(T.options)}
    entry = REGISTRY[method]
    task_cfg = dict(task=task, dataset=ds_name, **opts, **T.run_extras(opts))
    st.markdown(f"**{entry.title}**  \n{T.blurb}")
if T.recommended:  # measured, with its limits (bench/recommend.py, bench/proxy_benchmarks.py)
    with st.expander(f"Which method to start with? `{T.recommended}` — and where it fails", key=f"{PAGE}_advice_box"):
        st.markdown("\n".join(f"- {line}" for line in T.advice))
schema = entry.schema()

values = ss["settings"].setdefault(f"{task}:{method}", {})
ui.params_from_url(schema, values)  # a link with ?p_epochs=20&p_weig=false reproduces a configuration
with st.expander("Hyper-parameters (defaults from the papers / spec)", key=f"{PAGE}_params_box"):
    cols = st.columns(4)
    for i, p in enumerate(schema):
        values[p.name] = ui.param_widget(p, values.get(p.name, p.default),
                                         key=f"{PAGE}_{method}_{p.name}_{ss['train_nonce']}", container=cols[i % 4])
ui.params_to_url(schema, values)
c = st.columns([2, 1, 1, 1, 1, 1] if T.prior_corrections else [2, 1, 1])
folds = ui.control("multiselect", f"{T.fold_word.capitalize()}s to run (of {T.default_folds})", f"{PAGE}_folds_{task}",
                   [0], container=c[0], cast=int, options=list(range(T.default_folds)))
pc = la = shrink_ = False
shrink_form, val_split = "linear", "random"
if T.prior_corrections:  # the label-prior corrections of spec §3, §3b (docs/methods.md)
    la = ui.control("toggle", "+la", f"{PAGE}_la", False, container=c[1],
                    help="logit-adjusted training: the loss sees z + τ·log p_s, the prediction is aimed at a "
                         "uniform prior (τ = la_tau, 1 unless set under Hyper-parameters)")
    pc = ui.control("toggle", "+pc", f"{PAGE}_pc", False, container=c[2], disabled=la,
                    help="post-compensation: shift the predictions by log p_t − log p_s (p_t uniform) at test time")
    shrink_ = ui.control("toggle", "+shrink", f"{PAGE}_shrink", False, container=c[3],
                         help="shrink the prediction toward the uniform prior, (1 − λ)p + λ/C (or log-linear), with λ "
                              "chosen on the label-balanced validation KL")
    if shrink_:
        shrink_form = ui.control("select", "shrink form", f"{PAGE}_shrink_form", "linear", container=c[3],
                                 options=["linear", "log"],
                                 help="linear (1 − λ)p + λ/C, or log-linear p^(1−λ)(1/C)^λ renormalised; linear is "
                                      "the default, chosen on the generator (bench/shrink_forms.py)")
        if s["protocol"] == "ildl":
            opt = next(p for p in T.options if p.name == "val_split")  # the task's declared option
            val_split = ui.control("select", "validation samples", f"{PAGE}_val_split", opt.default, container=c[3],
                                   options=list(opt.choices), help=f"{opt.help}; every method then trains without "
                                                                   "them (bench/val_split.py)")
    pc = pc and not la
seed = ui.control("number", "seed", f"{PAGE}_seed", 0, container=c[-2], min_value=0, max_value=10**6)
devices = ["auto", "cpu"] + (["cuda"] if "CUDA" in ui.device_line() else [])
device = ui.control("select", "device", f"{PAGE}_device", "auto", container=c[-1], options=devices)
c = st.columns([2, 2, 2, 2])
if len(T.select_rules) > 1:  # tasks with validation data choose a rule
    select = ui.control("select", "model selection", f"{PAGE}_select", SEL.DEFAULT, container=c[0],
                        options=list(SEL.RULES),
                        help="; ".join(f"{r}: {d}" for r, d in SEL.RULES.items()) + " — which epoch's weights are reported; the validation samples come from the "
                             "imbalanced training part, so plain validation KL favours the training prior")
else:
    select = "last"
    c[0].caption("Model selection: the last epoch (this task has no validation data).")
diagnostic = ui.control("toggle", "record the test curve (diagnostic)", f"{PAGE}_diag", False, container=c[1],
                        help="test metrics every epoch, drawn against validation; never used for selection")
pace = ui.control("select_slider", "pace (for a class)", f"{PAGE}_pace", 0.0, container=c[2], cast=float,
                  options=PACES, format_func=lambda v: "full speed" if v == 0 else f"≥ {v:g} s / epoch",
                  help="sleeps between epochs so a class can watch the curves move; the results are "
                       "exactly those of a full-speed run")
x_axis = ui.control("select", "x axis", f"{PAGE}_x", list(viz.X_AXES)[0], container=c[3], options=list(viz.X_AXES),
                    format_func=viz.X_AXES.get,
                    help="as in TensorBoard: optimiser step, epoch, seconds since the start, or clock time")

def planned_config():
    """The config Start would submit (None when no data is chosen yet)."""
    common = dict(select=[select], diagnostic=bool(diagnostic), fold_ids=sorted(folds), seed=int(seed),
                  device=device, pace=float(pace))
    if task == ui.SIDEBAR_TASK:
        ds = ui.current_dataset()
        if ds is None:
            return None, None
        name = method + ("+la" if la else "") + ("+pc" if pc else "") + ("+shrink" if shrink_ else "")
        vals = {**values, "la_tau": values.get("la_tau") or 1.0} if la else values
        form = {"shrink_form": shrink_form} if shrink_ and shrink_form != "linear" else {}
        if shrink_ and val_split != "random":  # the default split stays out of the config
            form["val_split"] = val_split
        return dict(ui.run_config_base(ds), methods=["uniform", "train_mean", name], settings={name: vals},
                    **form, **common), (ds if s["dataset"] == ui.UPLOAD else None)
    return dict(task_cfg, methods=[method], settings={method: values}, **common), None


def estimate(cfg: dict, dataset) -> tuple[str | None, str | None]:
    """(estimate text, refusal) for a config, cached per configuration (planning loads the data)."""
    key = dumps(cfg) + (f"|{s['dataset']}:{ui.dataset_key()}" if dataset is not None else "")
    cache = ss.setdefault("_estimates", {})
    if key not in cache:
        try:
            cache[key] = (plan_and_check(cfg, dataset)[4].text(), None)
        except ValueError as e:  # BudgetError, or a configuration the engine refuses
            cache[key] = (None, str(e))
        if len(cache) > 20:
            cache.pop(next(iter(cache)))
    return cache[key]


view = bg.run_view(s["run"]) if s.get("run") else None
running = bg.is_live(view)
off = ui.store_problem()
planned, upload = None, None
with ui.friendly_errors("Setting up the run"):
    planned, upload = planned_config()
est, refusal = estimate(planned, upload) if planned and folds else (None, None)
if refusal:
    st.error(refusal)
elif est:
    st.caption(f"Estimate for this run: {est}.")
b = st.columns([1, 1, 1, 5])
start = bg.buttons(PAGE, view, can_start=bool(folds) and not off and not refusal and bool(planned), columns=b)
reset = b[2].button("↺ Reset", key=f"{PAGE}_reset", help="forget the current run and restore default parameters")
if reset:
    if running:
        bg.stop(view["id"], wait=0.0)
    ss["settings"][f"{task}:{method}"] = {}
    ss["train_nonce"] += 1
    s["run"] = None
    ui.sync_url()
    st.rerun()
if start and planned:  # a second click of a double click sees the first one's run: one job
    run_id = bg.submit(planned, dataset=upload)
    if run_id is not None:
        s["run"] = ss["_adopted_run"] = run_id  # the controls already describe it
        ui.sync_url()
        st.rerun()

smoothing = ui.control("slider", "Smoothing (the raw line stays faint underneath)", f"{PAGE}_smooth", 0.6,
                       min_value=0.0, max_value=0.99, step=0.01)


# ---------------------------------------------------------------- the run on view
def banner(v: dict) -> bool:
    """Say which run the charts below show; False (and a pointer) for a study, which opens on Ablation."""
    cfg = v["config"]
    if cfg.get("study"):
        s["study_run"] = v["id"]
        st.info(f"Run `{v['id']}` is an ablation study ({cfg['study']}); its table is on the Ablation page.")
        st.page_link("pages/5_Ablation.py", label="Open it on the Ablation page →", icon=":material/science:")
        return False
    st.info(f"Viewing run {describe(cfg, v['id'])} — **{v['status']}**")
    if planned and (trained_method(planned) != trained_method(cfg) or planned.get("dataset") != cfg.get("dataset")
                    or planned.get("task", tasks.DEFAULT) != cfg.get("task", tasks.DEFAULT)):
        st.caption(f"The controls above now set up another run ({trained_method(planned)} on {planned['dataset']}); "
                   "press Start to train it. The charts below stay this run's.")
    return True


def charts(v: dict) -> None:
    """All live curves as one multi-panel figure (one browser remount per poll, not five); `uirevision` = the run
    id keeps the reader's zoom and legend clicks while data arrive."""
    cfg = v["config"]
    trained = trained_method(cfg)
    base = trained.split("+")[0]
    if base not in REGISTRY:  # constant predictors only: no curves
        return
    T_ = tasks.get(cfg.get("task", tasks.DEFAULT))
    started = v.get("started")
    steps = viz.with_x(viz.steps_frame(e for e in v["steps"] if e["method"] == trained), x_axis, started)
    epochs = viz.with_x(viz.epochs_frame(e for e in v["events"] if e["method"] == trained), x_axis, started)
    diag = viz.with_x(viz.epochs_frame((e for e in v["events"] if e["method"] == trained), kind="diag"), x_axis, started)
    common = dict(x=x_axis, xtitle=viz.X_AXES[x_axis], smoothing=smoothing)
    terms = [t for t in REGISTRY[base].step_terms if t in steps]
    if T_.several_rules:  # validation data: its curves, beside the test's when the diagnostic is on
        if not diag.empty:  # the learner sees validation improve while test gets worse (label shift)
            epochs = epochs.merge(diag[["fold", "epoch", "test_kl"]], on=["fold", "epoch"], how="left")
        val = dict(common, df=epochs, ys=["val_kl", "val_kl_balanced", "test_kl"], log_y=True,
                   title="Validation KL (plain, label-balanced)" + (" vs test KL (diagnostic)" if not diag.empty else ""))
    else:
        val = dict(common, df=diag, ys=[c for c in diag.columns if c.startswith("test_")],
                   title="Test metrics per epoch (diagnostic)") if not diag.empty else None
    if "w_s" in terms:  # AMEMA: branch losses, EMA, weights and ratio, momenta
        mu_max = (cfg.get("settings") or {}).get(trained, {}).get("mu_max", 0.999)
        pinned = not steps.empty and "mu_ns" in steps and steps["mu_ns"].max() >= mu_max - 1e-9
        panels = [dict(common, df=steps, ys=["loss_s", "loss_ns"], log_y=True, title="Branch losses L_s, L_ns"),
                  dict(common, df=steps, ys=["ema_s", "ema_ns"], title="EMA of branch losses E_s, E_ns"),
                  dict(common, df=steps, ys=["w_s", "w_ns", "r"], title="Branch weights w_s, w_ns and ratio r"),
                  dict(common, df=steps, ys=["mu_s", "mu_ns"], title="Branch momenta μ_s, μ_ns",
                       hline=(mu_max, f"μ_max = {mu_max:g}"),
                       note=(f"μ_ns has reached its bound μ_max = {mu_max:g} (a declared choice; the paper names "
                             "none) and stops moving" if pinned else None)), val]
    else:
        panels = [dict(common, df=steps, ys=terms, log_y=True, title="Loss terms per step")] + ([val] if val else [])
    live_chart(viz.panel([p for p in panels if p], cols=2, row_height=320, revision=v["id"]), key=f"{PAGE}_live_panel")


def live(v: dict) -> None:
    """The run on view: which run, its status line, its charts, its results and their verdicts."""
    if not v.get("config") or not banner(v):
        return
    bg.progress(v)
    if v.get("error"):
        st.error(f"The run failed: {v['error']}. The app is still usable; change the settings and start again.")
    charts(v)
    if v["rows"]:
        task_ = v["config"].get("task", tasks.DEFAULT)
        T_ = tasks.get(task_)
        st.subheader(f"Test results (mean ± std over the finished {T_.fold_word}s)")
        st.dataframe(viz.results_table(v["rows"], T_.table_metrics, by=("method", *T_.row_keys, "select")),
                     hide_index=True)
        for line in verdicts(v["rows"], task_):
            st.markdown(line)
        if T_.constant_methods:  # where an error decomposes against the constant predictors (ldl)
            ds_ = ui.current_dataset() if v["config"].get("dataset") == s["dataset"] else None
            diagnosis.panel(f"{PAGE}_diag_{v['id']}", v["rows"], [v["id"]] if v["status"] == "done" else [],
                            Y=ds_.Y if ds_ is not None else None)


if s.get("run"):
    bg.watch(s["run"], live, every=POLL_SECONDS, what=None, errors=False)
else:
    st.info("Press **Start** to train. The job runs in a background thread; you can switch pages or refresh — "
            "the run id is in the URL.")

# ---------------------------------------------------------------- replay (its own fragment: play, pause, step)
if view and view.get("config") and not running and not view["config"].get("study"):
    replay.panel(PAGE, view, x_axis)

# ---------------------------------------------------------------- the decoupling regime (label distributions)
if task == ui.SIDEBAR_TASK:
    with st.expander("Where decoupling helps: plain KL vs the decoupled loss, learning curves of both error parts",
                     key=f"{PAGE}_regime_box"):
        regime.panel(PAGE)

# ---------------------------------------------------------------- saved runs
# Keyed expanders: a redraw that moves one (the live part above it grows) keeps it open.
with st.expander("Saved runs (kept on disk across refreshes and restarts)", key=f"{PAGE}_saved_box"):
    bg.saved_runs(PAGE, "run", studies=False)
