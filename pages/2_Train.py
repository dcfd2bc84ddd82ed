"""Train: a method in a background thread; losses, AMEMA's branch weights and momenta, validation
metrics and the results fill in live; an animated replay afterwards."""

import streamlit as st

from ildl import tasks
from ildl import selection as SEL
from ildl import viz
from ildl.methods import REGISTRY
from ildl.runs import dumps
from ildl.verdict import verdicts
from pages._ui import common as ui

PAGE = "train"
POLL_SECONDS = 1.0  # the acceptance asks for ≤ 1 s; faster polling costs the training thread
st.set_page_config(page_title="Train · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE)
s = ui.state()
reg = ui.registry()
ss = st.session_state
ss.setdefault("settings", {})
ss.setdefault("train_nonce", 0)
st.title("Train")

TASK_NAMES = list(tasks.TASKS)
task = st.radio("Task", TASK_NAMES, index=TASK_NAMES.index(s["task"]), format_func=lambda t: tasks.get(t).title,
                horizontal=True, key=f"{PAGE}_task")
if task != s["task"]:
    s["task"] = task
    ui.sync_url()
T = tasks.get(task)
task_cfg: dict = {}
if task == "ldl":  # label distributions take dataset, protocol and method from the sidebar
    method = s["method"]
    entry = REGISTRY[method]
    st.markdown(f"**{entry.title}**  \n{entry.paper}  \nDataset and protocol: the sidebar (the method too).")
else:
    names = tasks.methods(task)
    c = st.columns(2 + len(T.options))
    method = c[0].selectbox("method", names, index=names.index(T.default_method), key=f"{PAGE}_{task}_method",
                            format_func=lambda m: REGISTRY[m].title.split(" — ")[0])
    ds_name = c[1].selectbox("data", list(T.datasets), key=f"{PAGE}_{task}_data")
    opts = {p.name: ui.param_widget(p, p.default, key=f"{PAGE}_{task}_{p.name}", container=c[2 + i])
            for i, p in enumerate(T.options)}
    entry = REGISTRY[method]
    task_cfg = dict(task=task, dataset=ds_name, **opts, **T.run_extras(opts))
    st.markdown(f"**{entry.title}**  \n{T.blurb}")
schema = entry.schema()

# ---------------------------------------------------------------- configuration (declared params → widgets)
values = ss["settings"].setdefault(f"{task}:{method}", {})
ui.params_from_url(schema, values)  # a link with ?p_epochs=20&p_weig=false reproduces a configuration
with st.expander("Hyper-parameters (defaults from the papers / spec)", expanded=False):
    cols = st.columns(4)
    for i, p in enumerate(schema):
        values[p.name] = ui.param_widget(p, values.get(p.name, p.default),
                                         key=f"{PAGE}_{method}_{p.name}_{ss['train_nonce']}", container=cols[i % 4])
ui.params_to_url(schema, values)
c = st.columns([2, 1, 1, 1])
n_folds = T.default_folds
folds = c[0].multiselect(f"{T.fold_word.capitalize()}s to run (of {n_folds})", list(range(n_folds)), default=[0],
                         key=f"{PAGE}_folds_{task}")
pc = c[1].toggle("+pc (post-compensation)", key=f"{PAGE}_pc", disabled=task != "ldl",
                 help="shift the predictions by log p_t − log p_s (p_t uniform) at test time")
seed = c[2].number_input("seed", 0, 10**6, 0, key=f"{PAGE}_seed")
devices = ["auto", "cpu"] + (["cuda"] if "CUDA" in ui.device_line() else [])
device = c[3].selectbox("device", devices, key=f"{PAGE}_device")
if len(T.select_rules) > 1:  # tasks with validation data choose a rule
    c = st.columns([2, 2, 4])
    rules = list(SEL.RULES)
    select = c[0].selectbox("model selection", rules, index=rules.index(SEL.DEFAULT), key=f"{PAGE}_select",
                            format_func=lambda r: f"{r} — {SEL.RULES[r]}",
                            help="which epoch's weights are reported; the validation samples come from the "
                                 "imbalanced training part, so plain validation KL favours the training prior")
else:
    c = st.columns([2, 2, 4])
    select = "last"
    c[0].caption("Model selection: the last epoch (this task has no validation data).")
diagnostic = c[1].toggle("record the test curve (diagnostic)", key=f"{PAGE}_diag",
                         help="test metrics every epoch, drawn against validation; never used for selection")

view = ui.run_view(s["run"]) if s.get("run") else None
running = bool(view and view.get("live") and view["status"] in ("queued", "running"))
mine = bool(view) and reg.may_control(view["id"], ui.owner())
off = ui.store_problem()
b = st.columns([1, 1, 1, 5])
start = b[0].button("▶ Start", type="primary", disabled=running or not folds or off, key=f"{PAGE}_start")
stop = b[1].button("⏹ Stop", disabled=not running or not mine, key=f"{PAGE}_stop",
                   help=None if mine or not running else "only the browser that started this run may stop it")
reset = b[2].button("↺ Reset", key=f"{PAGE}_reset", help="forget the current run and restore default parameters")

if stop and view:
    if reg.stop(view["id"], ui.owner()):
        reg.get(view["id"]).join(2.0)
    st.rerun()
if reset:
    if running:
        reg.stop(view["id"], ui.owner())
    ss["settings"][f"{task}:{method}"] = {}
    ss["train_nonce"] += 1
    s["run"] = None
    ui.sync_url()
    st.rerun()
if start:
    with ui.friendly_errors("Starting the run"):
        if task == "ldl":
            ds = ui.current_dataset()
            if ds is not None:
                name = method + ("+pc" if pc else "")
                cfg = dict(ui.run_config_base(ds), methods=["uniform", "train_mean", name], settings={name: values},
                           select=[select], diagnostic=bool(diagnostic),
                           fold_ids=sorted(folds), seed=int(seed), device=device)
                job = reg.submit(cfg, dataset=ds if s["dataset"] == ui.UPLOAD else None, owner=ui.owner())
        else:
            job = reg.submit(dict(task_cfg, methods=[method], settings={method: values}, seed=int(seed), device=device,
                                  fold_ids=sorted(folds), diagnostic=bool(diagnostic)), owner=ui.owner())
        s["run"] = job.id
        ui.sync_url()
        st.rerun()

smoothing = st.slider("Smoothing (the raw line stays faint underneath)", 0.0, 0.99, 0.6, 0.01, key=f"{PAGE}_smooth")


# ---------------------------------------------------------------- live view (polls only while the job runs)
def _charts(v: dict) -> None:
    """All live curves as one multi-panel figure (one browser remount per poll, not five)."""
    trained = v["config"]["methods"][-1]
    task_ = v["config"].get("task", "ldl")
    if trained not in REGISTRY and trained.split("+")[0] not in REGISTRY:  # constant predictors only: no curves
        return
    steps = viz.steps_frame(e for e in v["steps"] if e["method"] == trained)
    epochs = viz.epochs_frame(e for e in v["events"] if e["method"] == trained)
    if task_ == "ldl":
        terms = list(REGISTRY[trained.split("+")[0]].step_terms)
        diag = viz.epochs_frame((e for e in v["events"] if e["method"] == trained), kind="diag")
        if not diag.empty:  # the learner sees validation improve while test gets worse (label shift)
            epochs = epochs.merge(diag[["fold", "epoch", "test_kl"]], on=["fold", "epoch"], how="left")
        val = dict(df=epochs, ys=["val_kl", "val_kl_balanced", "test_kl"], x="epoch", log_y=True,
                   title="Validation KL (plain, label-balanced) vs test KL (diagnostic)" if not diag.empty else
                   "Validation KL: plain and label-balanced (20 held-out training samples)")
    else:
        terms = [t for t in REGISTRY[trained].step_terms if t in steps]
        diag = viz.epochs_frame((e for e in v["events"] if e["method"] == trained), kind="diag")
        val = dict(df=diag, ys=[c for c in diag.columns if c.startswith("test_")], x="epoch",
                   title="Test metrics per epoch (diagnostic)") if not diag.empty else None
    if "w_s" in terms:  # AMEMA: branch losses, EMA, weights and ratio, momenta
        charts = [dict(df=steps, ys=["loss_s", "loss_ns"], smoothing=smoothing, log_y=True,
                       title="Branch losses L_s, L_ns"),
                  dict(df=steps, ys=["ema_s", "ema_ns"], title="EMA of branch losses E_s, E_ns"),
                  dict(df=steps, ys=["w_s", "w_ns", "r"], title="Branch weights w_s, w_ns and ratio r"),
                  dict(df=steps, ys=["mu_s", "mu_ns"], title="Branch momenta μ_s, μ_ns"), val]
    else:
        charts = [dict(df=steps, ys=terms, smoothing=smoothing, log_y=True, title="Loss terms per step")]
        charts += [val] if val else []
    st.plotly_chart(viz.panel(charts, cols=2, row_height=300), key=f"{PAGE}_live_panel")


@st.fragment(run_every=POLL_SECONDS if running else None)
def live(run_id: str) -> None:
    v = ui.run_view(run_id)
    if v is None:
        return
    status = v["status"]
    eta = f" · about {v['eta']:.0f} s left" if v.get("eta") else ""
    st.progress(v["progress"], text=f"Run `{v['id']}` — **{status}** · {v['progress']:.0%}{eta} · "
                                    f"device {next((e['device'] for e in v['events'] if e['type'] == 'start'), '…')}")
    if v.get("error"):
        st.error(f"The run failed: {v['error']}. The app is still usable; change the settings and start again.")
    _charts(v)
    if v["rows"]:
        task_ = v["config"].get("task", "ldl")
        st.subheader("Test results (mean ± std over the finished folds / seeds)")
        st.dataframe(viz.results_table(v["rows"], tasks.get(task_).table_metrics,
                                       by={"lt": ("method", "test_prior"), "ldl": ("method", "select")}.get(
                                           task_, ("method",))), hide_index=True)
        for line in verdicts(v["rows"], task_):
            st.markdown(line)
    if running and status not in ("queued", "running"):
        st.rerun()  # one full rerun when the job ends: stops the timer, enables Start, draws the replay


if s.get("run"):
    live(s["run"])
else:
    st.info("Press **Start** to train. The job runs in a background thread; you can switch pages or refresh — "
            "the run id is in the URL.")

# ---------------------------------------------------------------- replay (outside the fragment: not remounted)
if view and not running and view["config"].get("task", "ldl") == "ldl":
    trained = view["config"]["methods"][-1]
    snaps_all = [e for e in view["events"] if e["type"] == "snapshot" and e["method"] == trained]
    if snaps_all:
        st.subheader("Replay")
        fold_ids = sorted({e["fold"] for e in snaps_all})
        f = st.selectbox("fold", fold_ids, key=f"{PAGE}_replay_fold") if len(fold_ids) > 1 else fold_ids[0]
        start_ev = next((e for e in view["events"] if e["type"] == "start" and e["method"] == trained
                         and e["fold"] == f), None)
        if start_ev is not None:
            snaps = [e for e in snaps_all if e["fold"] == f]
            ep = viz.epochs_frame(e for e in view["events"] if e["method"] == trained and e["fold"] == f)
            with ui.friendly_errors("Loading the dataset labels"):
                ds = ui.current_dataset()
                labels = ds.labels() if ds is not None and ds.n_labels == len(start_ev["watch_true"][0]) else \
                    [f"L{j}" for j in range(len(start_ev["watch_true"][0]))]
                st.plotly_chart(viz.replay(snaps, start_ev["watch_true"], labels, ep, ("val_kl",)),
                                key=f"{PAGE}_replay")

# ---------------------------------------------------------------- saved runs
with st.expander("Saved runs (kept on disk across refreshes and restarts)"):
    ui.saved_runs(PAGE, "run", studies=False)
