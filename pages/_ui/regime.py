"""The decoupling-regime panel (Decoupling and Train pages): plain KL vs the decoupled loss trained in the
background on the generator preset where the papers' claim holds, with the learning curves of both parts of the
test KL and the sentence `ildl.lessons` computes from the results."""
from __future__ import annotations

import streamlit as st

from ildl import lessons, viz
from ildl.data import SYNTHETIC_PRESETS, preset_text
from pages._ui import background as bg
from pages._ui import common as ui


def panel(page: str) -> None:
    preset = SYNTHETIC_PRESETS[lessons.REGIME]
    st.markdown(
        f"**Where the decoupling claim holds.** On the generator's *{lessons.REGIME}* "
        f"({preset_text(preset)}), the dominant label holds most of each "
        "distribution, so plain KL hears the non-dominant labels only through the small factor (1 − d_k). Train "
        "the same MLP on plain KL (`ldl-kl`) and on the decoupled loss (`dec-kl`, α = 0.6), folds 0–2, and watch "
        "the test error split into its two parts, epoch by epoch (a diagnostic: no model selection reads it).")
    cfg = lessons.decoupling_config()
    run_id = bg.start_button("Train plain KL and the decoupled loss", f"{page}_regime_train", f"{page}_regime", cfg,
                             url_key=f"{page}_regime_run", what="the comparison")
    if run_id is None:
        return

    def show(w: dict) -> None:
        curves = lessons.learning_curves(w["events"])
        if not curves.empty:
            c1, c2 = st.columns(2)
            for col, part, title in ((c1, "test_kl_nondominant", "non-dominant shape: (1 − d_k)·KL(D̂‖p̂)"),
                                     (c2, "test_kl_dominant", "dominant degree: KL(b‖b′)")):
                series = {m: curves[curves["method"] == m][part].to_numpy() for m in (lessons.PLAIN, lessons.DECOUPLED)}
                x = curves[curves["method"] == lessons.PLAIN]["epoch"].to_numpy()
                n = min(len(x), *(len(s) for s in series.values()))
                if n:
                    ui.plot(col, viz.curves(x[:n], {k: s[:n] for k, s in series.items()},
                                                title=f"Test {title}, mean over folds", xaxis="epoch",
                                                yaxis="nats (≥ 0)"), key=f"{page}_regime_{part}")
        if w["status"] == "done":
            holds, sentence = lessons.decoupling_sentence(w["rows"])
            (st.success if holds else st.info)(sentence)

    bg.watch(run_id, show, what="Plain KL vs the decoupled loss:")


__all__ = ["panel"]
