"""The papers' Table 1 on the current dataset: constants, the classic LDL learners, the baselines and the ILDL
methods as groups, trained in the background as one run and shown as the folds finish (Compare page)."""
from __future__ import annotations

import streamlit as st

from pages._ui import background as bg
from pages._ui import common as ui

GROUP_CHOICES = ("classic", "baselines", "ildl")


def table_runs(ds) -> list[dict]:
    """Finished or live runs on this dataset that train more than one method (tables, not single runs)."""
    from ildl.methods import parse

    out = []
    for r in bg.finished_runs_for(ds):
        cfg = r["config"]
        if not cfg.get("study") and sum(not parse(m).constant for m in cfg.get("methods") or []) > 1:
            out.append(r)
    return out


def panel(page: str, ds) -> set[str]:
    """Draw the panel; returns the ids of this dataset's table runs (the Compare page lists the others)."""
    from ildl import report
    from ildl.methods import GROUPS, expand

    ss = st.session_state
    key = f"{page}_table"  # the URL carries the table on view (a page key: kept by the URL sync)
    rid = ss.get(key) or st.query_params.get(key)
    with st.expander("The papers' table on this dataset (constants · classic LDL learners · baselines · ILDL)",
                     expanded=bool(rid)):
        st.caption("Trains every method of the chosen groups on the sidebar's protocol, each group's folds as one "
                   "stack, in the background; the table fills in as folds finish. The classic learners take about "
                   "1.5 min for 10 folds of Movie on 2 cores; the ILDL methods several minutes more.")
        c = st.columns([3, 1, 1])
        groups = c[0].multiselect("groups (the constant predictors are always there)", list(GROUP_CHOICES),
                                  default=["classic"], format_func=lambda g: f"{g}: {GROUPS[g].split(' (')[0]}",
                                  key=f"{page}_table_groups")
        n = int(c[1].number_input("folds", 1, 10, 10, key=f"{page}_table_folds"))
        view = bg.peek(rid)
        if bg.buttons(f"{page}_table", view, can_start=bool(groups), start_label="▶ Train the table",
                      columns=[c[2], st.empty()]):
            cfg = dict(ui.run_config_base(ds), methods=expand(["constants", *groups]), settings={},
                       fold_ids=list(range(n)), seed=0)
            run_id = bg.submit(cfg, dataset=ds if ui.state()["dataset"] == ui.UPLOAD else None, what="the table")
            if run_id is not None:
                ss[key] = st.query_params[key] = run_id
                st.rerun()
        older = [r["id"] for r in table_runs(ds)]  # one scan of the run store per page run
        if older:
            pick = st.selectbox("or open a finished table", [None, *older], index=0, key=f"{page}_table_open",
                                format_func=lambda r: "—" if r is None else r)
            if pick and pick != rid:
                ss[key] = st.query_params[key] = pick
                st.rerun()
        if rid:
            _live(rid, ds.name, report)
    return set(older)


def _live(rid: str, dataset: str, report) -> None:
    def body(v: dict) -> None:
        if not v.get("config"):
            return
        rows = [r for r in v["rows"] if r.get("select", "-") in ((v["config"].get("select") or ["-"])[0], "-")]
        t = report.table(rows, dataset=dataset)
        st.markdown(report.markdown(t))
        if t.empty:
            return
        st.caption("Mean ± std over folds; best in bold; constants in italics; [published: AMEMA paper, Tables 1–2, "
                   "ILDL protocol]. Groups in the papers' order.")
        for note in report.published_notes(list(t["config"]), dataset):  # what the published figures are
            st.info(note)
        worse = [r["config"] for _, r in t.iterrows() if r["kind"] == "trained" and "uniform" in set(t["config"])
                 and all(r[f"{m}_mean"] >= float(t.loc[t["config"] == "uniform", f"{m}_mean"].iloc[0])
                         for m in ("chebyshev", "kl") if f"{m}_mean" in t)]
        if worse:
            from ildl.report import explain

            why = [ln for ln in explain(rows) if any(f"**{m}**" in ln for m in worse)]
            st.warning(f"Worse than the uniform predictor on Chebyshev and KL: {', '.join(worse)}. Why, from the "
                       "error decomposition of their test KL:\n\n" + "\n\n".join(f"- {ln}" for ln in why))
        d = st.columns(2)
        d[0].download_button("Table as Markdown", report.markdown(t), file_name=f"{rid}-table.md",
                             mime="text/markdown", key=f"tbl_md_{rid}")
        d[1].download_button("Table as LaTeX", report.latex(t, f"{dataset}: mean ± std over folds"),
                             file_name=f"{rid}-table.tex", mime="text/x-tex", key=f"tbl_tex_{rid}")

    bg.watch(rid, body, every=1.5, what="Table")
