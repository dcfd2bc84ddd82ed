"""Where an LDL result's error comes from (spec §3b), for the Train, Compare and Ablation pages: the decomposition
table, its stacked bar chart, the sentences `ildl.report.explain` computes, and the error by d_k bin."""
from __future__ import annotations

from typing import Any

import streamlit as st

from ildl import viz
from ildl.compare import dk_profile
from ildl.report import explain
from pages._ui import common as ui


def panel(key: str, rows: list[dict[str, Any]], run_ids: list[str] = (), Y=None) -> None:
    table = viz.decomposition_table(rows)
    if table.empty:
        return
    st.markdown("**Where the error comes from.** Per test sample, KL(y‖p) = KL(b‖b′) + (1 − d_k)·KL(D̂‖p̂) with k the "
                "true dominant label: `kl_dominant` + `kl_nondominant` = `kl`. `prior_gap` = KL(mean test y ‖ mean "
                "prediction) is the part the average prediction already misses; `dominant_acc`: argmax p = k.")
    st.dataframe(table, hide_index=True, key=f"{key}_decomp")
    for line in explain(rows):
        st.markdown(line)
    prof = None
    if Y is not None and run_ids:
        preds = {}
        for rid in run_ids:
            try:
                preds.update(ui.registry().store.predictions(rid))
            except Exception:  # noqa: BLE001 — a damaged prediction file costs this chart only
                continue
        prof = dk_profile(preds, Y) if preds else None
    cols = st.columns(3 if prof is not None and not prof.empty else [2, 1])
    ui.plot(cols[0], viz.error_sources(table), key=f"{key}_sources")
    if prof is not None and not prof.empty:
        ui.plot(cols[1], viz.dk_profile(prof, "kl_nondominant"), key=f"{key}_dk_nd")
        ui.plot(cols[2], viz.dk_profile(prof, "kl_dominant"), key=f"{key}_dk_dom")
