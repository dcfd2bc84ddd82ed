"""Compare finished runs: the same test samples side by side, per-label errors (head vs tail), a radar of the
six metrics, and every logged curve overlaid (TensorBoard-style smoothing, a choice of x axis, CSV). One colour
per run in every chart; runs are labelled by what differs between them."""
import numpy as np
import pandas as pd
import streamlit as st

from ildl import compare as CMP
from ildl import report, viz
from ildl.metrics import SIX
from ildl.runs import rows_to_csv
from pages._ui import background as bg
from pages._ui import common as ui
from pages._ui import diagnosis, paper_table


def _per_run(f: pd.DataFrame) -> pd.DataFrame:
    """Long (run, fold, x, v) → one column per run, so each run is one series with its own colour."""
    out = f.pivot_table(index=["fold", "_x"], columns="run", values="v", aggfunc="last").reset_index()
    return out.assign(method="", fold=out["fold"])


PAGE = "cmp"
st.set_page_config(page_title="Compare · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE, show=("dataset", "protocol"))
reg = ui.registry()
st.title("Compare runs")

with ui.friendly_errors("Comparing runs"):
    ds = ui.current_dataset()
    if ds is None:
        st.stop()
    tables = paper_table.panel(PAGE, ds)  # the table runs are shown there, not as single runs
    runs = [r for r in bg.finished_runs_for(ds) if not r.get("study") and r["id"] not in tables]
    if not runs:
        st.info(f"No finished runs on {ds.name} yet: train a few methods on the **Train** page (same folds), "
                "then come back.")
        st.stop()
    configs_all = {r["id"]: r["config"] for r in runs}
    labels_all = CMP.labels(configs_all)
    qp = st.query_params.get_all("cmp_run")
    default = [r for r in qp if r in labels_all] or list(labels_all)[:3]
    chosen = st.multiselect("Runs (trained on the current dataset)", list(labels_all), default=default,
                            format_func=lambda rid: f"{labels_all[rid]} · {rid}", key=f"{PAGE}_runs")
    st.query_params["cmp_run"] = chosen  # the URL carries the comparison
    if not chosen:
        st.stop()
    configs = {rid: configs_all[rid] for rid in chosen}
    name = CMP.labels(configs)  # labelled by what differs among the runs shown
    colour = CMP.colors(chosen)  # one colour per run, in every chart below
    cmap = {name[r]: colour[r] for r in chosen}
    views = {rid: reg.view(rid) for rid in chosen}
    preds = {rid: reg.store.predictions(rid) for rid in chosen}
    method_of = {rid: CMP.trained_method(configs[rid]) for rid in chosen}
    proto, _ = ui.current_protocol(ds)
    labels = ds.labels()
    st.caption("Legend: " + " · ".join(f"<span style='color:{colour[r]}'>■</span> {name[r]}" for r in chosen),
               unsafe_allow_html=True)

    # ------------------------------------------------------------ which folds can be compared
    done = {r: CMP.folds_of(views[r]["rows"], method_of[r]) for r in chosen}
    split = {r: (configs[r].get("protocol"), configs[r].get("seed", 0), repr(configs[r].get("thresholds")),
                 configs[r].get("folds")) for r in chosen}
    common = sorted(set.intersection(*done.values())) if done else []
    same_split = len(set(split.values())) == 1
    if len({frozenset(v) for v in done.values()}) > 1:
        st.warning("These runs finished different folds — " + "; ".join(
            f"{name[r]}: {', '.join(map(str, sorted(done[r]))) or 'none'}" for r in chosen)
            + (f". Every number below uses only the {len(common)} fold(s) they share: "
               f"{', '.join(map(str, common))}." if common else ". They share no fold: nothing below is comparable."))
    if not same_split:
        st.warning("These runs were split differently (protocol, seed, thresholds or number of folds differ), so "
                   "fold k is not the same test set in each: the table shows each run's own folds and makes no "
                   "paired test.")
    if not common and same_split:
        st.stop()

    # ------------------------------------------------------------ same samples side by side
    folds = sorted(set.intersection(*[{f for (m, f) in preds[r] if m == method_of[r]} for r in chosen]))
    if same_split:
        folds = [f for f in folds if f in set(common)]
    if not folds:
        st.warning("No fold with saved test predictions is common to the chosen runs: pick finished runs trained on "
                   "the same folds (runs stopped early have none).")
    else:
        c1, c2 = st.columns([1, 3])
        fold = ui.control("select", "fold", f"{PAGE}_fold", folds[0], container=c1, options=folds, cast=int)
        idx0 = preds[chosen[0]][(method_of[chosen[0]], fold)][0]
        pos = int(ui.control("number", "test sample (position in the fold)", f"{PAGE}_pos", 0, container=c1,
                             min_value=0, max_value=len(idx0) - 1))
        sample = int(idx0[pos])
        bars = {"true": ds.Y[sample]}
        for r in chosen:
            idx, p = preds[r][(method_of[r], fold)]
            hit = np.nonzero(idx == sample)[0]
            if len(hit):
                bars[name[r]] = p[hit[0]]
        ui.plot(c2, viz.distribution_bars(bars, labels, title=f"Test sample {sample} (fold {fold})",
                                              colors={"true": "#999999", **cmap}), key=f"{PAGE}_sample")

        # -------------------------------------------------------- per-label error, head vs tail, mean over folds
        def mean_error(r: str) -> np.ndarray:
            errs = [CMP.per_label_error(ds.Y[preds[r][(method_of[r], f)][0]], preds[r][(method_of[r], f)][1])
                    for f in folds]
            return np.mean(errs, 0)

        err = {name[r]: mean_error(r) for r in chosen}
        lab = [f"{l} ({'head' if h else 'tail'})" for l, h in zip(labels, proto.head)]
        ui.plot(st, viz.distribution_bars(err, lab, title=f"Mean |y − p| per label, mean over the {len(folds)} "
                                                               f"shared fold(s)", colors=cmap)
                        .update_yaxes(range=None), key=f"{PAGE}_perlabel")

    # ------------------------------------------------------------ radar, paper table, paired test, verdict
    keep = set(common) if same_split else None
    rows, uni_folds = [], set()
    for r in chosen:
        rule = (configs[r].get("select") or ["-"])[0]
        for row in views[r]["rows"]:
            if keep is not None and int(row["fold"]) not in keep:
                continue
            if row["method"] == method_of[r] and row.get("select", "-") in (rule, "-"):
                rows.append(dict(row, run=r, label=name[r]))
            elif row["method"] in ("uniform", "train_mean") and same_split and (row["method"], row["fold"]) not in uni_folds:
                uni_folds.add((row["method"], row["fold"]))  # the constants of every shared fold, once each
                rows.append(dict(row, run=r, label=row["method"]))
    df = pd.DataFrame(rows)
    if not df.empty:
        means = {k: v for k, v in df.groupby("label")[list(SIX)].mean().to_dict("index").items()}
        scores = CMP.relative_to(means)
        if scores:
            ui.plot(st, viz.radar(scores, title="Six metrics relative to the uniform predictor (> 1 = better), "
                                                    f"mean over {len(common) if same_split else 'each run’s'} folds",
                                      colors={**cmap, "uniform": "#7f7f7f"}), key=f"{PAGE}_radar")
        by_label = [dict(r, method=r["label"]) for r in rows]
        trained = [name[r] for r in chosen]
        if st.session_state.get(f"{PAGE}_ref") not in (None, *trained):  # the runs shown changed
            st.session_state.pop(f"{PAGE}_ref")
            st.session_state.pop(f"_last_{PAGE}_ref", None)
        ref = ui.control("select", "reference for the paired t-test (•/◦)", f"{PAGE}_ref", trained[0],
                         options=trained) if same_split else None
        t = report.table(by_label, reference=ref, dataset=ds.name)
        st.markdown(report.markdown(t))
        st.caption("Mean ± std over folds; best in bold; constants in italics; [published] where the papers give "
                   "it; • / ◦: the reference is significantly better / worse (paired t-test over the shared folds, "
                   "p < 0.05).")
        for note in report.published_notes(sorted({r["method"] for r in rows}), ds.name):
            st.info(note)
        for line in (report.verdict(t, ref) if ref else []):
            st.markdown(line)
        d = st.columns(3)
        d[0].download_button("Table as Markdown", report.markdown(t), file_name="compare.md", mime="text/markdown",
                             key=f"{PAGE}_md")
        d[1].download_button("Table as LaTeX", report.latex(t, f"{ds.name}: mean ± std over folds"),
                             file_name="compare.tex", mime="text/x-tex", key=f"{PAGE}_tex")
        d[2].download_button("Rows as CSV", rows_to_csv(rows), file_name="compare.csv", mime="text/csv",
                             key=f"{PAGE}_csv")
        diagnosis.panel(f"{PAGE}_diag", by_label)

    # ------------------------------------------------------------ every logged curve, overlaid
    st.subheader("Curves")
    c = st.columns([2, 2, 3])
    smoothing = ui.control("slider", "Smoothing (raw line kept faint)", f"{PAGE}_smooth", 0.6, container=c[0],
                           min_value=0.0, max_value=0.99, step=0.01)
    x_axis = ui.control("select", "x axis", f"{PAGE}_x", list(viz.X_AXES)[0], container=c[1], options=list(viz.X_AXES),
                        format_func=viz.X_AXES.get)
    ep_rows, st_rows = [], []
    for r in chosen:
        for e in views[r]["events"]:
            if e["type"] == "epoch" and e["method"] == method_of[r]:
                ep_rows.append({**e, "method": name[r]})
        for e in views[r]["steps"]:
            if e["method"] == method_of[r]:
                st_rows.append({**e, "method": name[r]})
    scalars = sorted({k for e in st_rows for k in e if k not in ("type", "method", "fold", "epoch", "step", "t",
                                                                 "study", "config")})
    pick = c[2].multiselect("step scalars", scalars, default=[k for k in ("loss", "w_ns", "mu_ns") if k in scalars],
                            key=f"{PAGE}_scalars")
    panels = []
    if ep_rows:
        epf = viz.with_x(pd.DataFrame(ep_rows), x_axis)
        for k in [k for k in ("val_kl", "val_kl_balanced") if k in epf]:
            panels.append(dict(df=epf.rename(columns={k: "value"}).assign(series=k), key=k, log=True))
    stf = viz.with_x(pd.DataFrame(st_rows), x_axis) if st_rows else pd.DataFrame()
    for k in pick:
        panels.append(dict(df=stf.rename(columns={k: "value"}), key=k, log=k.startswith(("loss", "ema"))))
    charts = []
    for p in panels:  # one line per run (per fold, dashed): the colour is the run's
        d = p["df"][["method", "fold", "_x", "value"]].dropna() if "value" in p["df"] else pd.DataFrame()
        wide = d.assign(run=d["method"]) if not d.empty else d
        charts.append(dict(df=wide.rename(columns={"value": "v"}).pipe(lambda f: _per_run(f)) if not d.empty else d,
                           ys=list(cmap) if not d.empty else [], x=x_axis, xtitle=viz.X_AXES[x_axis],
                           smoothing=smoothing, log_y=p["log"], title=p["key"], colors=cmap))
    if charts:
        ui.plot(st, viz.panel(charts, cols=2, row_height=300, revision="compare"), key=f"{PAGE}_curves")
    if st_rows:
        keep = ["method", "fold", "epoch", "step", *pick]
        st.download_button("Download the step scalars (CSV)", rows_to_csv([{k: e.get(k) for k in keep} for e in
                                                                           st_rows], keep),
                           file_name="compare-steps.csv", mime="text/csv", key=f"{PAGE}_steps_csv")
