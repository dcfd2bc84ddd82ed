"""Symmetric descending soft labels: turning a group id into a distribution (Group-DIR, AAAI 2025)."""
import numpy as np
import streamlit as st
import torch

from ildl import viz
from ildl.regression import (
    SYNTHETIC_DIR_PARAMS,
    entropy,
    group_edges,
    group_of,
    la_view,
    make_synthetic_dir,
    shot_regions,
    shot_thresholds,
    soft_labels,
    target_bins,
)
from ildl.studies import comparison_config, group_comparison, mistakes_sentence
from pages._ui import background as bg
from pages._ui import common as ui

PAGE = "soft"
st.set_page_config(page_title="Soft labels · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE, show=())
st.title("Symmetric descending soft labels")
st.markdown(
    "Group-DIR turns imbalanced regression into classification: split the target range into |G| groups, classify "
    "the group, then regress with that group's expert. A one-hot group target treats *every* wrong group as "
    "equally wrong; the soft label spreads the target over neighbouring groups, descending symmetrically with "
    "the distance |i − g|, so confusing age 30 with 35 costs less than with 70 — and rare groups borrow "
    "signal from their neighbours.")
st.latex(r"l_i = |G| - \beta\,|i - g|,\qquad q_i = \frac{e^{l_i}}{\sum_{j} e^{l_j}} \qquad\qquad (\text{Group-DIR, soft labels})")


def comparison(run_id: str, G: int) -> None:
    """The comparison run: a progress bar while it trains (polled), then the Fig. 5 histograms and accuracy vs |G|."""
    reg = ui.registry()

    def show(w: dict) -> None:
        if w["status"] != "done":
            return
        res = group_comparison(w["rows"], reg.store.groups(run_id))
        if not res["acc"]:
            return
        Gs = sorted(next(iter(res["acc"].values())))
        crit = list(res["acc"])
        G_show = min(Gs, key=lambda v_: abs(v_ - G))
        hist = {c: np.bincount(res["dist"][c][G_show], minlength=G_show)[:min(G_show, 8)] / len(res["dist"][c][G_show])
                for c in crit if G_show in res["dist"].get(c, {})}
        c1, c2 = st.columns(2)
        if hist:
            ui.plot(c1, viz.distribution_bars(hist, [str(i) for i in range(len(next(iter(hist.values()))))],
                                                  title=f"|predicted − true group| on the test fold, |G| = {G_show}"),
                            key=f"{PAGE}_dist")
        ui.plot(c2, viz.curves(np.array(Gs), {c: np.array([res["acc"][c][g] for g in Gs]) for c in crit},
                                   title="Group accuracy vs |G|", xaxis="|G|", yaxis="accuracy"), key=f"{PAGE}_gacc")
        best = max(crit, key=lambda c: res["acc"][c].get(G_show, 0.0))
        st.caption(mistakes_sentence(res["dist"], G_show) + f" Exact-group accuracy at |G| = {G_show}: "
                   + ", ".join(f"{c.replace('group-', '')} {res['acc'][c][G_show]:.0%}" for c in crit)
                   + f" (best: {best.replace('group-', '')}). Published (AgeDB-DIR, soft labels): 67.7% (5 groups), "
                   "40.0% (10), 20.6% (25) — a different, larger dataset.")

    bg.watch(run_id, show, what="Group classifiers:")


@st.cache_data(show_spinner=False)
def regression_data(name: str, kw: tuple):
    from ildl.data import load

    return load("FG-Net") if name == "FG-Net ages" else make_synthetic_dir(**dict(kw))


with ui.friendly_errors("Soft labels"):
    c = st.columns(3)
    G = ui.control("slider", "|G| — number of groups", f"{PAGE}_G", 10, container=c[0], min_value=2, max_value=50,
                   step=1)
    beta = ui.control("slider", "β — how fast the label descends", f"{PAGE}_beta", 1.0, container=c[1],
                      min_value=0.0, max_value=5.0, step=0.05)
    if st.session_state.get(f"{PAGE}_g", 0) > G - 1:
        st.session_state[f"{PAGE}_g"] = G - 1  # a smaller |G| keeps the true group inside the range
    g = ui.control("slider", "true group g", f"{PAGE}_g", min(G // 3, G - 1), container=c[2], min_value=0,
                   max_value=G - 1, step=1)
    Q = soft_labels(torch.arange(G), G, beta).numpy()
    ui.plot(st, viz.matrix(Q, np.arange(G), np.arange(G), title="q for every true group (rows) over groups (cols)",
                               zmax=1.0, xaxis="group i", yaxis="true group g"), key=f"{PAGE}_matrix")

    # ------------------------------------------------------------ data: ages, groups, shots
    st.subheader("The imbalance the group classifier faces")
    src = ui.control("radio", "Targets", f"{PAGE}_src", "FG-Net ages",
                     options=["FG-Net ages", "synthetic skewed regression"], horizontal=True)
    kw = {}
    if src != "FG-Net ages":
        cols = st.columns(len(SYNTHETIC_DIR_PARAMS))
        for col, p in zip(cols, SYNTHETIC_DIR_PARAMS):
            kw[p.name] = ui.param_widget(p, p.default, key=f"{PAGE}_dir_{p.name}", container=col)
    ds = regression_data(src, tuple(sorted(kw.items())))
    age = ds.extras["age"]
    edges = group_edges(age, G)
    groups = group_of(age, edges)
    prior = np.bincount(groups, minlength=G) / len(groups)

    tau = ui.control("slider", "τ of the logit-adjusted view", f"{PAGE}_tau", 1.0, min_value=0.0, max_value=2.0,
                     step=0.05)
    LA = la_view(G, prior, tau, scale=2.0)
    onehot = np.eye(G)[g]
    ui.plot(st, viz.distribution_bars({"soft label q": Q[g], "one-hot (CE)": onehot,
                                          "LA view softmax(2·e_g + τ log π)": LA[g]},
                                         [str(i) for i in range(G)],
                                         title=f"Targets for true group {g} (prior π from {src})"), key=f"{PAGE}_bars")
    st.caption("The LA bars show how a classifier's output with logit 2 on g looks to the logit-adjusted "
               "loss: the τ·log π term tilts it towards frequent groups, so rare groups must win by a larger margin. "
               "The soft label instead changes the *target*: neighbours of g share the mass.")
    betas = np.linspace(0, 5, 101)
    H = [float(entropy(soft_labels(torch.tensor([G // 2]), G, b).numpy())[0]) for b in betas]
    ui.plot(st, viz.curves(betas, {"H(q) for the middle group": np.array(H),
                                       "uniform log|G|": np.full_like(betas, np.log(G)),
                                       "one-hot (β → ∞)": np.zeros_like(betas)},
                               title="Entropy of the soft label vs β", xaxis="β", yaxis="nats", marker_x=beta,
                               dashed=["uniform log|G|", "one-hot (β → ∞)"]), key=f"{PAGE}_entropy")

    c1, c2 = st.columns(2)
    ui.plot(c1, viz.histogram(age, title=f"{src}: targets with the {G} group edges (red)", xaxis="target",
                                  nbins=70, edges=edges), key=f"{PAGE}_hist")
    ui.plot(c2, viz.distribution_bars({"share of samples": prior}, [str(i) for i in range(G)],
                                          title=f"Samples per group (max/min = "
                                                f"{prior.max() / max(prior[prior > 0].min(), 1e-12):.0f}×)"),
                    key=f"{PAGE}_groups")
    bins = target_bins(age)  # the same one-unit bins the per-shot metrics use
    counts = np.histogram(age, bins=bins)[0]
    regions = shot_regions(counts)
    many, few = shot_thresholds(counts)
    ui.plot(st, viz.shot_bars(bins[:-1], counts, regions, (many, few),
                                  title="Shot regions per one-unit target bin"), key=f"{PAGE}_shots")
    st.caption(f"AgeDB-DIR calls a bin *many-shot* above 100 and *few-shot* below 20 training samples, with about "
               f"121 per bin on average. For a set this size the thresholds are scaled to its own mean of "
               f"{counts[counts > 0].mean():.1f} per bin: many > {many:.1f}, few < {few:.1f}. "
               f"Here: {int((regions == 'many').sum())} many, {int((regions == 'medium').sum())} medium, "
               f"{int((regions == 'few').sum())} few-shot bins.")
    st.subheader("After training: CE vs LA vs soft labels")
    st.caption("Trains the Group-DIR model with each group criterion on fold 0 of a 5-fold split, for |G| = 5, 10 "
               "and 25 (30 epochs each) — in the background, with a progress bar; the page stays usable. The full "
               "5-fold comparison: the Ablation page (study group-dir) or `python -m ildl ablate --study group-dir`.")
    cfg = comparison_config("FG-Net" if src == "FG-Net ages" else "synthetic-dir", kw if src != "FG-Net ages" else {})
    run_id = bg.start_button("Train the three group classifiers", f"{PAGE}_train", PAGE, cfg, url_key="soft_run",
                             what="the comparison")
    if run_id:
        comparison(run_id, G)
