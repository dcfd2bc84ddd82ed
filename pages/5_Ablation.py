"""Ablation: the papers' ablation tables, filled in live while the grid trains in the background."""
import streamlit as st

from ildl import report, studies, viz
from ildl.tasks import DEFAULT
from ildl.tasks import get as get_task
from pages._ui import adopt, diagnosis
from pages._ui import background as bg
from pages._ui import common as ui

PAGE = "abl"
st.set_page_config(page_title="Ablation · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
s = ui.state()
adopt.adopt_study(PAGE)  # a study opened by link or from the list sets the controls below to its configuration
_study = st.session_state.get(f"{PAGE}_study") or st.query_params.get(f"{PAGE}_study") or "amema"
ui.sidebar(PAGE, show=("dataset", "protocol") if studies.STUDIES.get(_study, studies.STUDIES["amema"]).task == ui.SIDEBAR_TASK
           else ())
reg = ui.registry()
st.title("Ablation studies")
st.markdown("The papers argue through ablation tables: switch one idea off at a time and see what it was worth. "
            "Here the grid of configurations × folds trains in the background as one stacked computation, and "
            "the table fills in as folds finish. Cells: mean ± std over the finished folds; "
            "**bold** the best per column among trained methods and the uniform / training-mean predictors; "
            "• / ◦ the full method is significantly better / worse than that configuration (paired t-test over "
            "folds, p < 0.05); [brackets] the published figure where the paper gives one (Movie only).")

name = ui.control("select", "Study", f"{PAGE}_study", "amema", options=list(studies.STUDIES),
                  format_func=lambda n: studies.STUDIES[n].title)
study = studies.STUDIES[name]
if study.task == ui.SIDEBAR_TASK:
    st.caption("Dataset and protocol: the sidebar.")
    ds_name = None
    with_classic = ui.control("toggle", "with the six classic LDL learners as reference rows (their own defaults; "
                              "about 1.5 min more on Movie)", f"{PAGE}_classic", False)
else:
    ds_name = ui.control("select", "data", f"{PAGE}_data_{study.task}", get_task(study.task).datasets[0],
                         options=list(get_task(study.task).datasets))
T = get_task(study.task)
n_folds = T.default_folds if T.fold_word == "fold" else 5
c = st.columns(4)
folds = ui.control("multiselect", f"{T.fold_word.capitalize()}s", f"{PAGE}_folds_{study.task}",
                   list(range(T.default_folds)), container=c[0], cast=int, options=list(range(n_folds)))
epochs = ui.control("number", "epochs (0 = the method's default)", f"{PAGE}_epochs", 0, container=c[1],
                    min_value=0, max_value=5000)
chunk = ui.control("number", "folds per batch", f"{PAGE}_chunk", 2, container=c[2], min_value=1, max_value=10,
                   help="this many folds × every configuration train as one stack; smaller = the table fills in "
                        "more often, larger = faster overall")
seed = ui.control("number", "seed", f"{PAGE}_seed", 0, container=c[3], min_value=0, max_value=10**6)

view = bg.run_view(s["study_run"]) if s.get("study_run") else None
if bg.buttons(PAGE, view, can_start=bool(folds)):
    common = dict(study=name, fold_ids=sorted(folds), seed=int(seed), chunk_folds=int(chunk),
                  settings={"*": {"epochs": int(epochs)}} if epochs else {})
    run_id = None
    if study.task == ui.SIDEBAR_TASK:
        ds = ui.current_dataset()
        if ds is not None:
            run_id = bg.submit(dict(ui.run_config_base(ds), **common, references=["classic"] if with_classic else []),
                               dataset=ds if s["dataset"] == ui.UPLOAD else None, what="the study")
    else:
        run_id = bg.submit(dict(common, dataset=ds_name, folds=max(n_folds, max(folds) + 1), **study.run),
                           what="the study")
    if run_id is not None:
        s["study_run"] = run_id
        ui.sync_url()
        st.rerun()


def live(v: dict) -> None:
    """The study on view: its heading, status line, the table filling in, verdicts, charts and downloads."""
    cfg = v["config"]
    if not cfg.get("study"):
        st.info("That run is not a study.")
        return
    fold_ids = cfg.get("fold_ids") or list(range(int(cfg.get("folds") or 0)))
    st.info(f"Viewing study **{studies.get(cfg['study']).title}** on {cfg['dataset']}"
            + (f" ({cfg['protocol']})" if cfg.get("protocol") and len(get_task(cfg.get("task", DEFAULT)).protocols) > 1
               else "")
            + f" · folds {', '.join(map(str, fold_ids))} · run `{v['id']}`")
    bg.progress(v, f"Study ({cfg['study']} on {cfg['dataset']})")
    if v.get("error"):
        st.error(f"The study failed: {v['error']}")
    rows = v["rows"]
    stdy = studies.get(cfg["study"])
    t = report.study_table(rows, cfg["study"], cfg["dataset"])
    st.markdown(report.study_markdown(t))
    if stdy.published.get(cfg["dataset"]):
        for note in report.published_notes(stdy.methods, cfg["dataset"]):  # what the published figures are
            st.info(note)
    if not t.empty:
        note = report.caution(t)
        if note:
            st.warning(note)
        for line in report.study_verdict(t, cfg["study"]):  # sentences computed from the table above
            st.markdown(line)
        cols = st.columns(3)
        for i, m in enumerate(stdy.metrics):
            ui.plot(cols[i % 3], viz.metric_bars(t, [dict(r, config=report.label(r)) for r in rows], m,
                                                     lower=get_task(stdy.task).lower_is_better[m]),
                                     key=f"{PAGE}_bar_{m}")
        if get_task(stdy.task).constant_methods:  # where each configuration's error comes from, beside the constants
            diagnosis.panel(f"{PAGE}_diag_{v['id']}", [dict(r, method=r.get("config", r["method"])) for r in rows])
        d = st.columns(2)
        d[0].download_button("Table as LaTeX", report.latex(t, f"{stdy.title} on {cfg['dataset']}"),
                             file_name=f"{v['id']}-{cfg['study']}.tex", mime="text/x-tex", key=f"{PAGE}_tex")
        d[1].download_button("Table as Markdown", report.study_markdown(t), file_name=f"{v['id']}-{cfg['study']}.md",
                             mime="text/markdown", key=f"{PAGE}_md")
        st.download_button("Download the rows (CSV)", reg.store.results_csv(v["id"]) or "",
                           file_name=f"{v['id']}-{cfg['study']}.csv", mime="text/csv", key=f"{PAGE}_csv")


if s.get("study_run"):
    bg.watch(s["study_run"], live, what=None, errors=False)
else:
    st.info("Pick a study and press **Start**. On Movie the AMEMA study (40 models) takes about 6 s on 2 CPU cores.")

# Keyed: the live table above it grows while a study trains, and a keyed expander stays open when it moves.
with st.expander("Saved studies", key=f"{PAGE}_saved_box"):
    bg.saved_runs(PAGE, "study_run", studies=True)
