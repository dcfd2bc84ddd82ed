"""Compare finished runs: the same test samples side by side, per-label errors (head vs tail), a radar of
the six metrics, and the training curves overlaid (TensorBoard-style smoothing, stable run colours)."""
import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from ildl import viz
from ildl.metrics import LOWER_IS_BETTER, SIX
from ildl.runs import rows_to_csv
from pages._ui import common as ui

PAGE = "cmp"
st.set_page_config(page_title="Compare · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE)
reg = ui.registry()
st.title("Compare runs")

with ui.friendly_errors("Comparing runs"):
    ds = ui.current_dataset()
    if ds is None:
        st.stop()
    runs = [r for r in ui.finished_runs_for(ds) if not r.get("study")]
    if not runs:
        st.info(f"No finished runs on {ds.name} yet: train a few methods on the **Train** page (same folds), "
                "then come back.")
        st.stop()
    label = {r["id"]: f"{r['methods'][-1]} · {r['id']}" for r in runs}
    chosen = st.multiselect("Runs (trained on the current dataset)", list(label), default=list(label)[:3],
                            format_func=label.get, key=f"{PAGE}_runs")
    if not chosen:
        st.stop()
    # a run's colour follows its id, so it keeps its colour whatever else is selected
    colour = {rid: viz.color(int(hashlib.md5(rid.encode()).hexdigest(), 16) % len(viz.PALETTE)) for rid in chosen}
    name = {rid: label[rid].split(" · ")[0] + f" ({rid[-6:]})" for rid in chosen}
    views = {rid: reg.view(rid) for rid in chosen}
    preds = {rid: reg.store.predictions(rid) for rid in chosen}
    method_of = {rid: views[rid]["config"]["methods"][-1] for rid in chosen}
    proto, _ = ui.current_protocol(ds)
    labels = ds.labels()

    # ------------------------------------------------------------ same samples side by side
    folds = sorted(set.intersection(*[{f for (m, f) in preds[r] if m == method_of[r]} for r in chosen]))
    if not folds:
        st.warning("No fold with saved test predictions is common to the chosen runs: pick finished runs trained on "
                   "the same folds (runs stopped early or made before predictions were saved have none).")
    else:
        c1, c2 = st.columns([1, 3])
        fold = c1.selectbox("fold", folds, key=f"{PAGE}_fold")
        idx0 = preds[chosen[0]][(method_of[chosen[0]], fold)][0]
        pos = int(c1.number_input("test sample (position in the fold)", 0, len(idx0) - 1, 0, key=f"{PAGE}_pos"))
        sample = int(idx0[pos])
        bars = {"true": ds.Y[sample]}
        for r in chosen:
            idx, p = preds[r][(method_of[r], fold)]
            bars[name[r]] = p[list(idx).index(sample)]
        c2.plotly_chart(viz.distribution_bars(bars, labels, title=f"Test sample {sample} (fold {fold})"),
                        key=f"{PAGE}_sample")

        # -------------------------------------------------------- per-label error, head vs tail
        err = {}
        for r in chosen:
            idx, p = preds[r][(method_of[r], fold)]
            err[name[r]] = np.abs(ds.Y[idx] - p).mean(0)
        lab = [f"{l} ({'head' if h else 'tail'})" for l, h in zip(labels, proto.head)]
        st.plotly_chart(viz.distribution_bars(err, lab, title=f"Mean |y − p| per label on fold {fold}")
                        .update_yaxes(range=None), key=f"{PAGE}_perlabel")

    # ------------------------------------------------------------ radar and table
    rows = []
    for r in chosen:
        for row in views[r]["rows"]:
            if row["method"] in (method_of[r], "uniform"):
                rows.append(dict(row, run=r, label=name[r] if row["method"] != "uniform" else "uniform"))
    df = pd.DataFrame(rows)
    if not df.empty:
        means = df.groupby("label")[list(SIX)].mean()
        if "uniform" in means.index:
            u = means.loc["uniform"]
            scores = {lab_: {m: (u[m] / v[m] if LOWER_IS_BETTER[m] else v[m] / u[m]) for m in SIX}
                      for lab_, v in means.iterrows()}
            st.plotly_chart(viz.radar(scores, title="Six metrics relative to the uniform predictor (> 1 = better)",
                                      colors={**{name[r]: colour[r] for r in chosen}, "uniform": "#7f7f7f"}),
                            key=f"{PAGE}_radar")
        st.dataframe(viz.results_table([dict(r, method=r["label"]) for r in rows]), hide_index=True)
        st.download_button("Download these rows (CSV)", rows_to_csv(rows), file_name="compare.csv", mime="text/csv",
                           key=f"{PAGE}_csv")

    # ------------------------------------------------------------ curves overlaid
    smoothing = st.slider("Smoothing (raw line kept faint)", 0.0, 0.99, 0.6, 0.01, key=f"{PAGE}_smooth")
    ep = []
    for r in chosen:
        for e in views[r]["events"]:
            if e["type"] == "epoch" and e["method"] == method_of[r]:
                ep.append(dict(epoch=e["epoch"], val_kl=e["val_kl"], method=name[r], fold=e["fold"]))
    curves = viz.line_chart(pd.DataFrame(ep), ["val_kl"], x="epoch", smoothing=smoothing, log_y=True,
                            title="Validation KL per epoch, all chosen runs")
    for tr in curves.data:  # stable colour per run
        rid = next((r for r in chosen if tr.name and name[r] in tr.name), None)
        if rid:
            tr.line.color = colour[rid]
    st.plotly_chart(curves, key=f"{PAGE}_curves")
