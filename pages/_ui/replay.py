"""The replay of a finished run, TensorFlow-Playground style: first · back · play / pause · step · speed ·
a scrubber. Every logged scalar (losses, EMAs, branch weights, momenta, validation, the test diagnostic) is drawn
per epoch with a marker at the replayed epoch, the values at that epoch are written out, and for label
distributions the watched test samples' predictions are drawn as they were at that epoch. The state (epoch,
playing, speed) lives in the session; a fragment advances it while playing, so the rest of the page stays put."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ildl import viz
from ildl.compare import trained_method
from ildl.methods import REGISTRY
from pages._ui import common as ui

SPEEDS = (0.5, 1.0, 2.0, 4.0)
FRAMES_PER_PLAY = 60  # a whole run plays in about this many ticks at 1×
TICK = 0.5  # seconds per tick at 1×


def per_epoch(view: dict[str, Any], trained: str, fold: int) -> pd.DataFrame:
    """One row per epoch: the last step's scalars of that epoch, the validation record, the test diagnostic."""
    steps = pd.DataFrame([e for e in view["steps"] if e["method"] == trained and e["fold"] == fold])
    ep = pd.DataFrame([e for e in view["events"] if e["type"] == "epoch" and e["method"] == trained
                       and e["fold"] == fold])
    diag = pd.DataFrame([e for e in view["events"] if e["type"] == "diag" and e["method"] == trained
                         and e["fold"] == fold])
    out = ep[["epoch"] + [c for c in ep.columns if c.startswith("val_")]] if not ep.empty else pd.DataFrame()
    if not steps.empty:
        last = steps.groupby("epoch").last().reset_index()
        keep = ["epoch"] + [c for c in REGISTRY[trained.split("+")[0]].step_terms if c in last]
        out = last[keep] if out.empty else out.merge(last[keep], on="epoch", how="left")
    if not diag.empty and not out.empty:
        out = out.merge(diag[["epoch"] + [c for c in diag.columns if c.startswith("test_")]], on="epoch", how="left")
    return out.sort_values("epoch").reset_index(drop=True) if not out.empty else out


def groups(cols: list[str]) -> list[tuple[str, list[str], bool]]:
    """(title, series, log scale) panels from the scalars a run logged."""
    out = []
    for title, keys, log in (("Branch losses", ["loss_s", "loss_ns"], True), ("EMAs", ["ema_s", "ema_ns"], False),
                             ("Branch weights and ratio", ["w_s", "w_ns", "r"], False),
                             ("Branch momenta", ["mu_s", "mu_ns"], False),
                             ("Validation / test", [c for c in cols if c.startswith(("val_", "test_"))], True)):
        have = [k for k in keys if k in cols]
        if have:
            out.append((title, have, log))
    taken = {k for _, ks, _ in out for k in ks} | {"epoch"}
    rest = [c for c in cols if c not in taken]
    if rest:
        out.insert(0, ("Loss terms", rest, True))
    return out


def panel(page: str, view: dict[str, Any], x_axis: str) -> None:
    cfg = view["config"]
    trained = trained_method(cfg)
    if trained.split("+")[0] not in REGISTRY:
        return
    folds = sorted({e["fold"] for e in view["events"] if e["type"] == "epoch" and e["method"] == trained})
    if not folds:
        return
    ss = st.session_state
    st.subheader("Replay")
    fold = st.selectbox("fold", folds, key=f"{page}_rp_fold") if len(folds) > 1 else folds[0]
    data = per_epoch(view, trained, fold)
    if data.empty:
        return
    E = int(data["epoch"].max())
    k_ep, k_play, k_speed = f"{page}_rp_epoch_{view['id']}", f"{page}_rp_play", f"{page}_rp_speed"
    ss.setdefault(k_ep, 1)
    ss.setdefault(k_play, False)
    ss.setdefault(k_speed, 1.0)
    ss[k_ep] = int(min(max(ss[k_ep], 1), E))
    speed = float(ss[k_speed])

    @st.fragment(run_every=TICK / speed if ss[k_play] else None)
    def player() -> None:
        if ss[k_play]:  # a tick: advance, stop at the end
            ss[k_ep] = min(E, ss[k_ep] + max(1, E // FRAMES_PER_PLAY))
            if ss[k_ep] >= E:
                ss[k_play] = False
                st.rerun(scope="app")
        c = st.columns([1, 1, 1, 1, 2, 4])
        # Material icons (bundled with Streamlit): ⏮ ⏸ have no glyph in many Linux fonts
        if c[0].button("First", icon=":material/first_page:", key=f"{page}_rp_first", help="first epoch"):
            ss[k_ep] = 1
        if c[1].button("Back", icon=":material/chevron_left:", key=f"{page}_rp_back", help="one epoch back"):
            ss[k_ep] = max(1, ss[k_ep] - 1)
        if c[2].button("Pause" if ss[k_play] else "Play", icon=":material/pause:" if ss[k_play] else
                       ":material/play_arrow:", key=f"{page}_rp_play_btn",
                       help="pause" if ss[k_play] else "play"):
            ss[k_play] = not ss[k_play]
            if ss[k_play] and ss[k_ep] >= E:
                ss[k_ep] = 1
            st.rerun(scope="app")  # the fragment's timer follows the new state
        if c[3].button("Step", icon=":material/chevron_right:", key=f"{page}_rp_step", help="one epoch forward"):
            ss[k_ep] = min(E, ss[k_ep] + 1)
        new_speed = c[4].selectbox("speed", SPEEDS, index=SPEEDS.index(speed), key=f"{page}_rp_speed_sel",
                                   format_func=lambda v: f"{v:g}×", label_visibility="collapsed")
        if new_speed != speed:
            ss[k_speed] = new_speed
            st.rerun(scope="app")
        ss[k_ep] = c[5].slider("epoch", 1, E, int(ss[k_ep]), key=f"{page}_rp_scrub_{ss[k_ep]}",
                               label_visibility="collapsed") if E > 1 else 1
        e = int(ss[k_ep])
        row = data[data["epoch"] == e]
        vals = {k: float(row[k].iloc[0]) for k in data.columns if k != "epoch" and len(row) and pd.notna(row[k].iloc[0])}
        st.markdown(f"**Epoch {e} of {E}** — " + " · ".join(f"{k} = {v:.4g}" for k, v in vals.items()))
        panels = [dict(df=data.assign(method=trained, fold=fold), ys=ks, x="epoch", log_y=log, title=title)
                  for title, ks, log in groups(list(data.columns))]
        fig = viz.panel(panels, cols=min(3, len(panels)), row_height=250, revision=f"replay-{view['id']}")
        for i in range(len(panels)):
            sfx = "" if i == 0 else str(i + 1)
            fig.add_shape(type="line", xref=f"x{sfx}", x0=e, x1=e, yref=f"y{sfx} domain", y0=0, y1=1,
                          line=dict(color="black", dash="dot"))
        ui.plot(st, fig, key=f"{page}_rp_chart")
        snaps = [x for x in view["events"] if x["type"] == "snapshot" and x["method"] == trained and x["fold"] == fold]
        start = next((x for x in view["events"] if x["type"] == "start" and x["method"] == trained
                      and x["fold"] == fold), None)
        snap = next((x for x in snaps if x["epoch"] == e), None)
        if snap is not None and start is not None and start.get("watch_true"):
            truth = np.asarray(start["watch_true"], np.float64)
            labels = _labels(truth.shape[1])
            cols = st.columns(len(truth))
            for i, col in enumerate(cols):
                ui.plot(col, viz.distribution_bars({"true": truth[i], f"epoch {e}": np.asarray(snap["pred"][i])},
                                                       labels, title=f"test sample {i}"), key=f"{page}_rp_s{i}")

    player()


def _labels(C: int) -> list[str]:
    try:
        ds = ui.current_dataset()
        if ds is not None and ds.n_labels == C:
            return ds.labels()
    except Exception:  # noqa: BLE001 — labels are cosmetic
        pass
    return [f"L{j}" for j in range(C)]
