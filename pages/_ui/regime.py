"""The decoupling-regime panel (Decoupling and Train pages): plain KL vs the decoupled loss trained in the
background on the generator preset where the papers' claim holds, with the learning curves of both parts of the
test KL and the sentence `ildl.lessons` computes from the results."""
from __future__ import annotations

import streamlit as st

from ildl import lessons, viz
from ildl.data import SYNTHETIC_PRESETS
from ildl.runs import dumps
from pages._ui import common as ui


def panel(page: str) -> None:
    preset = SYNTHETIC_PRESETS[lessons.REGIME]
    st.markdown(
        f"**Where the decoupling claim holds.** On the generator's *{lessons.REGIME}* "
        f"({', '.join(f'{k} {v:g}' for k, v in preset.items())}), the dominant label holds most of each "
        "distribution, so plain KL hears the non-dominant labels only through the small factor (1 − d_k). Train "
        "the same MLP on plain KL (`ldl-kl`) and on the decoupled loss (`dec-kl`, α = 0.6), folds 0–2, and watch "
        "the test error split into its two parts, epoch by epoch (a diagnostic: no model selection reads it).")
    cfg = lessons.decoupling_config()
    runs = st.session_state.setdefault("regime_runs", {})
    key = dumps(cfg)
    url_key = f"{page}_regime_run"
    if st.query_params.get(url_key) and key not in runs:
        runs[key] = st.query_params[url_key]
    reg = ui.registry()
    job = reg.get(runs.get(key))
    busy = job is not None and job.running
    if st.button("Train plain KL and the decoupled loss", key=f"{page}_regime_train",
                 disabled=busy or ui.store_problem()):
        with ui.friendly_errors("Starting the comparison"):
            runs[key] = reg.submit(cfg, owner=ui.owner()).id
    if key not in runs:
        return
    st.query_params[url_key] = runs[key]
    run_id = runs[key]
    v = ui.run_view(run_id)
    if v is None:
        return
    live = v["status"] in ("queued", "running") and v.get("live")

    @st.fragment(run_every=1.0 if live else None)
    def show() -> None:
        w = ui.run_view(run_id)
        if w is None:
            return
        curves = lessons.learning_curves(w["events"])
        if w["status"] in ("queued", "running"):
            st.progress(w["progress"], text=f"Training plain KL and the decoupled loss — {w['progress']:.0%}")
        elif live:
            st.rerun()  # finished: redraw once without the timer
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
        elif w["status"] not in ("queued", "running"):
            st.warning(f"The comparison run ended {w['status']}{': ' + w['error'] if w.get('error') else ''}.")

    show()


__all__ = ["panel"]
