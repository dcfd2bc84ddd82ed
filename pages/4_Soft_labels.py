"""Symmetric descending soft labels: turning a group id into a distribution (Group-DIR, AAAI 2025)."""
import numpy as np
import streamlit as st
import torch

from ildl import viz
from ildl.regression import (SYNTHETIC_DIR_PARAMS, entropy, group_edges, group_of, la_view, make_synthetic_dir,
                             shot_regions, shot_thresholds, soft_labels)
from pages._ui import common as ui

PAGE = "soft"
st.set_page_config(page_title="Soft labels · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE)
st.title("Symmetric descending soft labels")
st.markdown(
    "Group-DIR turns imbalanced regression into classification: split the target range into |G| groups, classify "
    "the group, then regress with that group's expert. A one-hot group target treats *every* wrong group as "
    "equally wrong; the soft label spreads the target over neighbouring groups, descending symmetrically with "
    "the distance |i − g|, so confusing age 30 with 35 costs less than with 70 — and rare groups borrow "
    "signal from their neighbours.")
st.latex(r"l_i = |G| - \beta\,|i - g|,\qquad q_i = \frac{e^{l_i}}{\sum_{j} e^{l_j}} \qquad\qquad (\text{Group-DIR, soft labels})")


@st.cache_resource(show_spinner="Training CE, LA and soft-label group classifiers…", max_entries=4)
def group_comparison(name: str, kw: tuple) -> dict:
    from ildl.studies import criterion_comparison

    return criterion_comparison(regression_data(name, kw))


@st.cache_data(show_spinner=False)
def regression_data(name: str, kw: tuple):
    from ildl.data import load

    return load("FG-Net") if name == "FG-Net ages" else make_synthetic_dir(**dict(kw))


with ui.friendly_errors("Soft labels"):
    c = st.columns(3)
    G = c[0].slider("|G| — number of groups", 2, 50, 10, 1, key=f"{PAGE}_G")
    beta = c[1].slider("β — how fast the label descends", 0.0, 5.0, 1.0, 0.05, key=f"{PAGE}_beta")
    g = c[2].slider("true group g", 0, G - 1, min(G // 3, G - 1), 1, key=f"{PAGE}_g")
    Q = soft_labels(torch.arange(G), G, beta).numpy()
    st.plotly_chart(viz.matrix(Q, np.arange(G), np.arange(G), title="q for every true group (rows) over groups (cols)",
                               zmax=1.0, xaxis="group i", yaxis="true group g"), key=f"{PAGE}_matrix")

    # ------------------------------------------------------------ data: ages, groups, shots
    st.subheader("The imbalance the group classifier faces")
    src = st.radio("Targets", ["FG-Net ages", "synthetic skewed regression"], horizontal=True, key=f"{PAGE}_src")
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

    tau = st.slider("τ of the logit-adjusted view", 0.0, 2.0, 1.0, 0.05, key=f"{PAGE}_tau")
    LA = la_view(G, prior, tau, scale=2.0)
    onehot = np.eye(G)[g]
    st.plotly_chart(viz.distribution_bars({"soft label q": Q[g], "one-hot (CE)": onehot,
                                          "LA view softmax(2·e_g + τ log π)": LA[g]},
                                         [str(i) for i in range(G)],
                                         title=f"Targets for true group {g} (prior π from {src})"), key=f"{PAGE}_bars")
    st.caption("The LA bars show how a classifier's output with logit 2 on g looks to the logit-adjusted "
               "loss: the τ·log π term tilts it towards frequent groups, so rare groups must win by a larger margin. "
               "The soft label instead changes the *target*: neighbours of g share the mass.")
    betas = np.linspace(0, 5, 101)
    H = [float(entropy(soft_labels(torch.tensor([G // 2]), G, b).numpy())[0]) for b in betas]
    st.plotly_chart(viz.curves(betas, {"H(q) for the middle group": np.array(H),
                                       "uniform log|G|": np.full_like(betas, np.log(G)),
                                       "one-hot (β → ∞)": np.zeros_like(betas)},
                               title="Entropy of the soft label vs β", xaxis="β", yaxis="nats", marker_x=beta,
                               dashed=["uniform log|G|", "one-hot (β → ∞)"]), key=f"{PAGE}_entropy")

    c1, c2 = st.columns(2)
    c1.plotly_chart(viz.histogram(age, title=f"{src}: targets with the {G} group edges (red)", xaxis="target",
                                  nbins=70, edges=edges), key=f"{PAGE}_hist")
    c2.plotly_chart(viz.distribution_bars({"share of samples": prior}, [str(i) for i in range(G)],
                                          title=f"Samples per group (max/min = "
                                                f"{prior.max() / max(prior[prior > 0].min(), 1e-12):.0f}×)"),
                    key=f"{PAGE}_groups")
    bins = np.arange(np.floor(age.min()), np.ceil(age.max()) + 1)
    counts = np.histogram(age, bins=bins)[0]
    regions = shot_regions(counts)
    many, few = shot_thresholds(counts)
    st.plotly_chart(viz.shot_bars(bins[:-1], counts, regions, (many, few),
                                  title="Shot regions per one-unit target bin"), key=f"{PAGE}_shots")
    st.caption(f"AgeDB-DIR calls a bin *many-shot* above 100 and *few-shot* below 20 training samples, with about "
               f"121 per bin on average. For a set this size the thresholds are scaled to its own mean of "
               f"{counts[counts > 0].mean():.1f} per bin: many > {many:.1f}, few < {few:.1f}. "
               f"Here: {int((regions == 'many').sum())} many, {int((regions == 'medium').sum())} medium, "
               f"{int((regions == 'few').sum())} few-shot bins.")
    st.subheader("After training: CE vs LA vs soft labels")
    st.caption("Trains the Group-DIR model with each group criterion on fold 0 of a 5-fold split, for |G| = 5, 10 "
               "and 25 (30 epochs each; about 10–30 s on 2 CPU cores, then cached). The full 5-fold comparison: "
               "the Train page (task: imbalanced regression) or `python -m ildl run --task dir`.")
    key = (src, tuple(sorted(kw.items())))
    if st.button("Train the three group classifiers", key=f"{PAGE}_train") or key in st.session_state.get(
            "soft_done", set()):
        res = group_comparison(src, tuple(sorted(kw.items())))
        st.session_state.setdefault("soft_done", set()).add(key)
        Gs = sorted(next(iter(res["acc"].values())))
        crit = list(res["acc"])
        c1, c2 = st.columns(2)
        G_show = min(Gs, key=lambda v: abs(v - G))
        hist = {}
        for cname in crit:
            d = res["dist"][cname][G_show]
            hist[cname] = np.bincount(d, minlength=G_show)[:min(G_show, 8)] / len(d)
        c1.plotly_chart(viz.distribution_bars(hist, [str(i) for i in range(len(next(iter(hist.values()))))],
                                              title=f"|predicted − true group| on the test fold, |G| = {G_show}"),
                        key=f"{PAGE}_dist")
        c2.plotly_chart(viz.curves(np.array(Gs), {cname: np.array([res["acc"][cname][g] for g in Gs]) for cname in crit},
                                   title="Group accuracy vs |G|", xaxis="|G|", yaxis="accuracy"), key=f"{PAGE}_gacc")
        st.caption("Soft labels put more of the mistakes one group away (bar 1) rather than far off — the point of "
                   "descending labels — whether or not the exact-group accuracy is higher. Published (AgeDB-DIR, "
                   "soft labels): 67.7% (5 groups), 40.0% (10), 20.6% (25) — a different, larger dataset.")
