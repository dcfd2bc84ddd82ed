"""Label shift: when the test prior p_t differs from the training prior p_s, correct the classifier after
training (PC softmax) or train it to disentangle p_s (LADE). LADE, Hong et al., CVPR 2021."""
import numpy as np
import streamlit as st

from ildl import longtail as LT
from ildl.methods.longtail import adjust
from ildl import viz
from pages._ui import common as ui

PAGE = "shift"
st.set_page_config(page_title="Label shift · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE)
st.title("Label shift: PC softmax and LADE")
st.markdown(
    "A classifier trained on a long-tailed set learns p_s(y|x), which carries the training prior p_s. If the test "
    "set has another prior p_t, the Bayes-optimal fix is to swap priors: **PC softmax** adds log p_t − log p_s to the "
    "logits after training. **LADE** instead trains the logits f to be free of p_s (CE on f + log p_s, plus a "
    "regulariser), so predicting under p_t is simply f + log p_t; logit adjustment (LA) and balanced softmax "
    "share that form.")
st.latex(r"\text{PC: } \hat y=\arg\max_y f_y(x)+\log p_t(y)-\log p_s(y)\qquad"
         r"\text{LA / BS / LADE: } \hat y=\arg\max_y f_y(x)+\log p_t(y)")


@st.cache_resource(show_spinner="Training CE, PC, LA, balanced softmax and LADE…", max_entries=8)
def trained(dataset: str, imbalance: float, seed: int) -> tuple[LT.LTData, dict[str, np.ndarray]]:
    from ildl.studies import label_shift_models

    return label_shift_models(dataset, imbalance, seed)


with ui.friendly_errors("Label shift"):
    c = st.columns(3)
    dataset = c[0].selectbox("data", ["digits-lt", "synthetic-lt"], key=f"{PAGE}_data")
    R = float(c[1].select_slider("training imbalance ratio", [10, 20, 50, 100, 200], 100, key=f"{PAGE}_R"))
    seed = int(c[2].number_input("seed", 0, 100, 0, key=f"{PAGE}_seed"))
    data, logits = trained(dataset, R, seed)
    C = data.n_classes
    shift = st.slider("test prior: −1 backward long-tailed · 0 uniform · +1 forward (like training)", -1.0, 1.0, 0.0,
                      0.05, key=f"{PAGE}_shift")
    p_t = LT.shifted_prior(R, shift, C)
    labels = [f"c{j} ({s})" for j, s in enumerate(data.shots())]
    st.plotly_chart(viz.distribution_bars({"p_s (training)": data.prior, "p_t (test)": p_t}, labels,
                                          title=f"Training prior (imbalance {R:g}) and the test prior"),
                    key=f"{PAGE}_priors")
    rule = {m: LT.prediction_rule(m) for m in logits}
    acc = {m: LT.accuracy_under_prior(rule[m], logits[m], data, p_t) for m in logits}
    c1, c2 = st.columns(2)
    c1.plotly_chart(viz.distribution_bars({"accuracy": np.array(list(acc.values()))}, list(acc),
                                          title="Accuracy under this test prior"), key=f"{PAGE}_acc")
    grid = np.linspace(-1, 1, 41)
    curves = {m: np.array([LT.accuracy_under_prior(rule[m], logits[m], data, LT.shifted_prior(R, s, C)) for s in grid])
              for m in logits}
    c2.plotly_chart(viz.curves(grid, curves, title="Accuracy vs test-prior shift", xaxis="shift (−1 backward … +1 forward)",
                               yaxis="expected accuracy", marker_x=shift), key=f"{PAGE}_curve")
    st.caption("Expected accuracy under p_t = Σ_c p_t(c)·recall_c, with recalls measured on a balanced pool of "
               f"{len(data.y_pool)} test images and predictions that use p_t — no resampling noise. Plain CE ignores "
               "p_t: it is right only when the test set looks like the training set (shift +1).")
    st.subheader("How one prediction moves")
    i = int(st.number_input("test image (balanced pool index)", 0, len(data.y_pool) - 1,
                            int(np.nonzero(data.y_pool == C - 1)[0][0]), key=f"{PAGE}_i"))
    probs = {}
    for m in ("ce", "pc", "lade"):
        z = adjust(rule[m], logits[m][i][None], data.prior, p_t)[0]
        e = np.exp(z - z.max())
        probs[m.upper()] = e / e.sum()
    st.plotly_chart(viz.distribution_bars(probs, labels, title=f"Predicted class probabilities for image {i} "
                                                              f"(true class c{data.y_pool[i]})"), key=f"{PAGE}_one")
