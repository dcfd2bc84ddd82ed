"""Decoupling: a label distribution = a dominant part + a non-dominant part, and why plain KL starves
the non-dominant labels (gradient attenuation)."""
import numpy as np
import streamlit as st
import torch

from ildl import viz
from ildl.compare import run_titles
from ildl.decouple import attenuation_curve, decouple, identity_terms
from pages._ui import background as bg
from pages._ui import common as ui
from pages._ui import regime

PAGE = "dec"


def shape_caption(d: np.ndarray, kl: np.ndarray, dec: np.ndarray, dk: float, alpha: float) -> str:
    """What the two curves show, from their numbers: the plain-KL signal at this sample's d_k relative to the
    least dominated case, against the decoupled loss's."""
    i = int(np.argmin(np.abs(d - dk)))
    rk = kl[i] / kl[0] if kl[0] > 0 else float("nan")
    rd = dec[i] / dec[0] if dec[0] > 0 else float("nan")
    return (f"At this sample's d_k = {dk:.2f}, plain KL shapes the non-dominant labels with {rk:.0%} of the strength it "
            f"has at d_k = 1/C = {d[0]:.2f} (it falls as 1 − d_k); the decoupled loss keeps {rd:.0%} (α = {alpha:.2f}: "
            f"its strength does not depend on d_k). The right chart is the raw, signed ∂L/∂z_j of plain KL: it does not "
            f"only shrink — it also carries the part that moves the total non-dominant mass, which the left chart removes.")
st.set_page_config(page_title="Decoupling · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE, show=("dataset", "protocol"))
st.title("Decoupling and gradient attenuation")
st.markdown(
    "Take a label distribution y with dominant label k and degree d_k. Decoupling splits it into **what dominates** "
    "and **how the rest is shaped**. The plain KL loss is exactly the sum of a loss on the first and a loss on the "
    "second — but the second is multiplied by (1 − d_k). When one label dominates (d_k → 1), the model hears almost "
    "nothing about the other labels: that is the *gradient attenuation* the papers describe, and why DILDL and "
    "AMEMA give the two parts their own weights.")
st.latex(r"k=\arg\max_j y_j,\qquad \bar D=\mathrm{onehot}(k),\qquad b=[d_k,\;1-d_k] \qquad\qquad(1)")
st.latex(r"\hat D_j=\frac{y_j}{1-d_k}\ \ \text{(AMEMA eq. 3)}\qquad "
         r"\hat D_j=\frac{e^{y_j}}{\sum_{i\ne k}e^{y_i}}\ \ \text{(DILDL eq. 3)},\qquad \hat D_k=0 \qquad\qquad(2)")
st.latex(r"\mathrm{KL}(y\,\|\,p)=\mathrm{KL}\big(b\,\|\,[p_k,1-p_k]\big)+(1-d_k)\,\mathrm{KL}(\hat D\,\|\,\hat p),"
         r"\qquad \hat p_j=\frac{p_j}{1-p_k} \qquad\qquad(3)")

with ui.friendly_errors("Decoupling"):
    ds = ui.current_dataset()
    if ds is None:
        st.stop()
    labels = ds.labels()
    C = ds.n_labels
    # ------------------------------------------------------------ the sample
    src = ui.control("radio", "Distribution", f"{PAGE}_src", "a sample of the dataset",
                     options=["a sample of the dataset", "type one"], horizontal=True)
    if src == "type one":
        text = ui.control("text", f"{C} non-negative numbers (renormalised)", f"{PAGE}_typed",
                          ", ".join(["4"] + ["1"] * (C - 1)))
        try:
            v = np.array([float(t) for t in text.replace(";", ",").split(",") if t.strip()])
        except ValueError:
            st.error("Type numbers separated by commas.")
            st.stop()
        if len(v) != C or (v < 0).any() or v.sum() <= 0:
            st.error(f"Need {C} non-negative numbers with a positive sum.")
            st.stop()
        y = v / v.sum()
        sample_idx = None
    else:
        c1, c2 = st.columns([3, 1])
        sample_idx = int(ui.control("number", "sample index", f"{PAGE}_idx", int(np.argmax(ds.Y.max(1) < 0.9)),
                                    container=c1, min_value=0, max_value=ds.n - 1))
        c2.caption(f"d_k = {ds.Y[sample_idx].max():.3f}, dominant label {labels[int(ds.Y[sample_idx].argmax())]}")
        y = ds.Y[sample_idx].astype(np.float64)
    yt = torch.tensor(y[None], dtype=torch.float64)
    dr, dsm = decouple(yt, "renorm"), decouple(yt, "softmax")
    k = int(dr.k)
    c1, c2 = st.columns([3, 1])
    ui.plot(c1, viz.distribution_bars({"y": y, "D̄ (dominant one-hot)": dr.onehot[0].numpy(),
                                          "D̂ renormalised": dr.nondom[0].numpy(), "D̂ softmax": dsm.nondom[0].numpy()},
                                         labels, title=f"y and its parts (k = {labels[k]}, d_k = {y[k]:.3f})"),
                    key=f"{PAGE}_parts")
    ui.plot(c2, viz.distribution_bars({"b": dr.binary[0].numpy()}, ["d_k", "1 − d_k"], title="binary view b"),
                    key=f"{PAGE}_binary")
    st.caption("The softmax variant keeps every non-dominant label alive (exp(0) = 1) and is much flatter; the "
               "renormalised one keeps the exact shape and makes the identity (3) exact.")

    # ------------------------------------------------------------ the prediction and the identity
    st.subheader("The identity, live")
    runs = bg.finished_runs_for(ds)
    titles = run_titles(runs)
    run_opts = ["move the logits"] + [f"{titles[r['id']]} · {r['id']}" for r in runs]
    how = ui.control("select", "Prediction p", f"{PAGE}_pred_src", run_opts[0], options=run_opts,
                     help="a finished run's prediction is available for samples of its test folds")
    z = np.zeros(C)
    run_pred = None
    if how == "move the logits":
        cols = st.columns(min(C, 10))
        for j in range(min(C, 10)):
            z[j] = ui.control("slider", f"z[{labels[j]}]", f"{PAGE}_z{j}", 0.0, container=cols[j], min_value=-5.0,
                              max_value=5.0, step=0.1)
        if C > 10:
            st.caption(f"Only the first 10 of {C} logits have sliders; the rest stay 0.")
    else:
        r = runs[run_opts.index(how) - 1]
        preds = ui.registry().store.predictions(r["id"])
        method = r["methods"][-1]
        hits = [(f, idx, p) for (m, f), (idx, p) in preds.items() if m == method and sample_idx in set(idx.tolist())]
        if sample_idx is None or not hits:
            folds = sorted(f for (m, f) in preds if m == method)
            test_ids = np.concatenate([preds[(method, f)][0] for f in folds]) if folds else np.array([], int)
            st.info(f"Sample {sample_idx} is not in a test fold of this run; try one of "
                    f"{test_ids[:8].tolist()}… (the run covered folds {folds}).")
        else:
            f, idx, p = hits[0]
            run_pred = p[list(idx).index(sample_idx)].astype(np.float64)
            z = np.log(np.maximum(run_pred, 1e-12))
            st.caption(f"{method}, fold {f}: the model's prediction for sample {sample_idx}.")
    zt = torch.tensor(z[None], dtype=torch.float64)
    t = {key: float(v[0]) for key, v in identity_terms(yt, zt).items()}
    p = torch.softmax(zt, -1)[0].numpy()
    pr = decouple(torch.tensor(p[None]), "renorm", k=torch.tensor([k]))
    ui.plot(st, viz.distribution_bars({"y": y, "p": p, "D̂": dr.nondom[0].numpy(), "p̂": pr.nondom[0].numpy()},
                                          labels, title="truth and prediction, whole and non-dominant parts"),
                    key=f"{PAGE}_pred")
    st.dataframe({"term": ["KL(y‖p)", "KL(b‖[p_k, 1−p_k])", "1 − d_k", "KL(D̂‖p̂)", "right-hand side of (3)",
                           "|left − right|"],
                  "value": [t["total"], t["dominant"], t["weight"], t["nondominant"], t["rhs"],
                            abs(t["total"] - t["rhs"])]}, hide_index=True, key=f"{PAGE}_identity")
    if run_pred is not None:
        st.markdown("**The prediction, decoupled the same way** — is its dominant label right, is its degree right, "
                    "and does its non-dominant shape p̂ follow D̂?")
        ui.plot(st, viz.distribution_bars({"true b": dr.binary[0].numpy(), "predicted [p_k, 1−p_k]":
                                               np.array([p[k], 1 - p[k]])}, ["d_k", "1 − d_k"],
                                              title="dominant part"), key=f"{PAGE}_run_b")

    # ------------------------------------------------------------ gradient attenuation
    st.subheader("Gradient attenuation")
    st.markdown(
        "Hold the non-dominant shape D̂ and the prediction fixed and slide the dominant degree d_k from 1/C to 1. "
        "The curves show how hard each loss pushes the non-dominant logits **towards the right shape** (the part "
        "of ∂L/∂z on the labels j ≠ k that changes p̂, computed with autograd). For plain KL it is "
        "(1 − d_k)·(p̂ − D̂): it fades linearly to nothing. The decoupled loss α·KL(b‖b′) + (1 − α)·KL(D̂‖p̂) keeps it "
        "at (1 − α)·(p̂ − D̂) whatever d_k.")
    alpha = ui.control("slider", "α (weight of the dominant part in the decoupled loss)", f"{PAGE}_alpha", 0.6,
                       min_value=0.0, max_value=1.0, step=0.05)
    grid = torch.linspace(1.0 / C, 0.995, 60, dtype=torch.float64)
    att = attenuation_curve(dr.nondom[0], k, zt[0], grid, alpha)
    shape = {"plain KL": att["shape_kl"].numpy(), f"decoupled (α = {alpha:.2f})": att["shape_decoupled"].numpy()}
    c1, c2 = st.columns(2)
    ui.plot(c1, viz.curves(grid.numpy(), shape, title="How hard each loss shapes the non-dominant labels",
                               xaxis="d_k", yaxis="‖shape gradient‖ (≥ 0)", marker_x=float(y[k])), key=f"{PAGE}_att")
    raw = {f"∂L/∂z[{labels[j]}]": att["grad_kl"][:, j].numpy() for j in [j for j in range(C) if j != k][:4]}
    ui.plot(c2, viz.curves(grid.numpy(), raw, title="Plain KL: the raw gradient on each non-dominant logit",
                               xaxis="d_k", yaxis="∂L/∂z_j (signed)", marker_x=float(y[k])), key=f"{PAGE}_raw")
    st.caption(shape_caption(grid.numpy(), att["shape_kl"].numpy(), att["shape_decoupled"].numpy(), float(y[k]),
                             alpha))
    proto, _ = ui.current_protocol(ds)
    kept = proto.splits[0].kept
    c1, c2 = st.columns(2)
    w_all, w_tr = 1 - ds.Y.max(1), 1 - ds.Y[kept].max(1)
    ui.plot(c1, viz.histogram(w_all, title=f"1 − d_k over the whole dataset (mean {w_all.mean():.2f})",
                                  xaxis="1 − d_k"), key=f"{PAGE}_w_all")
    ui.plot(c2, viz.histogram(w_tr, title=f"1 − d_k over the training set of fold 0 (mean {w_tr.mean():.2f})",
                                  xaxis="1 − d_k"), key=f"{PAGE}_w_train")
    st.caption("Each sample's non-dominant labels reach a plain-KL model only through this factor: the lower the "
               "histogram sits, the less the model learns about anything but the dominant label.")

    st.subheader("Does it pay off? Learning curves in the decoupling regime")
    regime.panel(PAGE)
