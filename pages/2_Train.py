"""Train: a method in a background thread; losses, AMEMA's branch weights and momenta, validation
metrics and the results fill in live; an animated replay afterwards."""

import streamlit as st

from ildl import groupdir as GD
from ildl import longtail as LT
from ildl import selection as SEL
from ildl import viz
from ildl.methods import REGISTRY
from ildl.runs import dumps
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

TASKS = {"ldl": "Label distributions (ILDL)", "dir": "Imbalanced regression (Group-DIR)",
         "lt": "Long-tailed classification (label shift)"}
task = st.radio("Task", list(TASKS), index=list(TASKS).index(s["task"]), format_func=TASKS.get, horizontal=True,
                key=f"{PAGE}_task")
if task != s["task"]:
    s["task"] = task
    ui.sync_url()
task_cfg: dict = {}
if task == "ldl":
    method = s["method"]
    cls = REGISTRY[method]
    schema = cls.schema()
    st.markdown(f"**{cls.title}**  \n{cls.paper}  \nDataset and protocol: the sidebar (the method too).")
elif task == "dir":
    c = st.columns(3)
    method = c[0].selectbox("method", GD.METHODS, index=GD.METHODS.index("group-soft"), key=f"{PAGE}_dir_method")
    ds_name = c[1].selectbox("data", ["synthetic-dir", "FG-Net"], key=f"{PAGE}_dir_data",
                             help="FG-Net: 1002 faces, ages 0–69; synthetic-dir: the skewed generator")
    groups = c[2].slider("|G| groups", 2, 50, 10, key=f"{PAGE}_dir_groups")
    schema = GD.PARAMS
    task_cfg = dict(task="dir", dataset=ds_name, groups=int(groups))
    st.markdown("Group-DIR — Pu et al., AAAI 2025: encoder + group classifier + one expert per group; "
                "L = L_grc + λ1·L_mse + λ2·L_cls. Evaluated per shot on natural 5-fold test folds.")
else:
    c = st.columns(3)
    method = c[0].selectbox("method", LT.METHODS, index=LT.METHODS.index("lade"), key=f"{PAGE}_lt_method")
    ds_name = c[1].selectbox("data", ["digits-lt", "synthetic-lt"], key=f"{PAGE}_lt_data")
    imbalance = c[2].select_slider("imbalance ratio", [10, 20, 50, 100, 200], 100, key=f"{PAGE}_lt_R")
    schema = LT.PARAMS
    task_cfg = dict(task="lt", dataset=ds_name, imbalance=float(imbalance),
                    test_priors=["uniform", f"forward{imbalance}", f"backward{imbalance}"])
    st.markdown("LADE / PC softmax — Hong et al., CVPR 2021; evaluated under uniform, forward and backward "
                "long-tailed test priors.")

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
if task == "lt":
    n_seeds = c[0].number_input("seeds", 1, 10, 1, key=f"{PAGE}_seeds")
    folds = [0]
else:
    n_folds = 10 if task == "ldl" else 5
    folds = c[0].multiselect(f"Folds to run (of {n_folds})", list(range(n_folds)), default=[0], key=f"{PAGE}_folds")
pc = c[1].toggle("+pc (post-compensation)", key=f"{PAGE}_pc", disabled=task != "ldl",
                 help="shift the predictions by log p_t − log p_s (p_t uniform) at test time")
seed = c[2].number_input("seed", 0, 10**6, 0, key=f"{PAGE}_seed")
devices = ["auto", "cpu"] + (["cuda"] if "CUDA" in ui.device_line() else [])
device = c[3].selectbox("device", devices, key=f"{PAGE}_device")
if task == "ldl":
    c = st.columns([2, 2, 4])
    rules = list(SEL.RULES)
    select = c[0].selectbox("model selection", rules, index=rules.index(SEL.DEFAULT), key=f"{PAGE}_select",
                            format_func=lambda r: f"{r} — {SEL.RULES[r]}",
                            help="which epoch's weights are reported; the validation samples come from the "
                                 "imbalanced training part, so plain validation KL favours the training prior")
    diagnostic = c[1].toggle("record the test curve (diagnostic)", key=f"{PAGE}_diag",
                             help="test metrics every epoch, drawn against validation; never used for selection")

view = reg.view(s["run"]) if s.get("run") else None
running = bool(view and view["live"] and view["status"] in ("queued", "running"))
b = st.columns([1, 1, 1, 5])
start = b[0].button("▶ Start", type="primary", disabled=running or not folds, key=f"{PAGE}_start")
stop = b[1].button("⏹ Stop", disabled=not running, key=f"{PAGE}_stop")
reset = b[2].button("↺ Reset", key=f"{PAGE}_reset", help="forget the current run and restore default parameters")

if stop and view:
    job = reg.get(view["id"])
    if job:
        job.request_stop()
        job.join(2.0)
    st.rerun()
if reset:
    if running:
        reg.get(view["id"]).request_stop()
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
                job = reg.submit(cfg, dataset=ds if s["dataset"] == ui.UPLOAD else None)
        else:
            cfg = dict(task_cfg, methods=[method], settings={method: values}, seed=int(seed), device=device)
            if task == "dir":
                cfg.update(folds=5, fold_ids=sorted(folds))
            else:
                cfg.update(seeds=int(n_seeds))
            job = reg.submit(cfg)
        s["run"] = job.id
        ui.sync_url()
        st.rerun()

smoothing = st.slider("Smoothing (the raw line stays faint underneath)", 0.0, 0.99, 0.6, 0.01, key=f"{PAGE}_smooth")


# ---------------------------------------------------------------- live view (polls only while the job runs)
def _charts(v: dict) -> None:
    """All live curves as one multi-panel figure (one browser remount per poll, not five)."""
    trained = v["config"]["methods"][-1]
    task_ = v["config"].get("task", "ldl")
    steps = viz.steps_frame(e for e in v["steps"] if e["method"] == trained)
    epochs = viz.epochs_frame(e for e in v["events"] if e["method"] == trained)
    if task_ == "lt" and not steps.empty:
        steps = steps.rename(columns={"seed": "fold"})
    if task_ == "ldl":
        terms = list(REGISTRY[trained.split("+")[0]].step_terms)
        diag = viz.epochs_frame((e for e in v["events"] if e["method"] == trained), kind="diag")
        if not diag.empty:  # the learner sees validation improve while test gets worse (label shift)
            epochs = epochs.merge(diag[["fold", "epoch", "test_kl"]], on=["fold", "epoch"], how="left")
        val = dict(df=epochs, ys=["val_kl", "val_kl_balanced", "test_kl"], x="epoch", log_y=True,
                   title="Validation KL (plain, label-balanced) vs test KL (diagnostic)" if not diag.empty else
                   "Validation KL: plain and label-balanced (20 held-out training samples)")
    else:
        terms = [t for t in ("loss", "grc", "mse", "cls") if t in steps]
        val = dict(df=epochs, ys=["test_mae", "group_acc"], x="epoch", title="Test MAE and group accuracy per epoch") \
            if task_ == "dir" else None
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
        st.dataframe(viz.results_table(v["rows"], viz.TASK_METRICS[task_],
                                       by={"lt": ("method", "test_prior"), "ldl": ("method", "select")}.get(
                                           task_, ("method",))), hide_index=True)
        for line in viz.verdicts(v["rows"]) if task_ == "ldl" else []:
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
    runs = reg.store.list()
    if not runs:
        st.caption("No runs yet.")
    else:
        st.dataframe([{k: r[k] for k in ("id", "status", "dataset", "methods")} for r in runs], hide_index=True,
                     height=min(300, 40 + 35 * len(runs)))
        ids = [r["id"] for r in runs]
        pick = st.selectbox("run", ids, index=ids.index(s["run"]) if s.get("run") in ids else 0,
                            key=f"{PAGE}_pick")
        c = st.columns(4)
        if c[0].button("Open", key=f"{PAGE}_open"):
            s["run"] = pick
            ui.sync_url()
            st.rerun()
        c[1].download_button("results.csv", reg.store.results_csv(pick) or "no results yet\n",
                             file_name=f"{pick}-results.csv", mime="text/csv", key=f"{PAGE}_dl_csv")
        c[2].download_button("config.json", dumps(reg.store.config(pick)), file_name=f"{pick}-config.json",
                             mime="application/json", key=f"{PAGE}_dl_cfg")
        live_job = reg.get(pick)
        if c[3].button("Delete", key=f"{PAGE}_delete", disabled=bool(live_job and live_job.running)):
            reg.store.delete(pick)
            if s.get("run") == pick:
                s["run"] = None
                ui.sync_url()
            st.rerun()
