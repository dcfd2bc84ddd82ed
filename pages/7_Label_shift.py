"""Label shift: when the test prior p_t differs from the training prior p_s, correct the classifier after
training (PC softmax) or train it to disentangle p_s (LADE). LADE, Hong et al., CVPR 2021."""
import numpy as np
import streamlit as st

from ildl import labelshift as LT
from ildl import tasks, viz
from ildl.methods.longtail import adjust
from pages._ui import background as bg
from pages._ui import common as ui

PAGE = "shift"
st.set_page_config(page_title="Label shift · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE, show=())
st.title("Label shift: PC softmax and LADE")
st.markdown(
    "A classifier trained on a long-tailed set learns p_s(y|x), which carries the training prior p_s. If the test "
    "set has another prior p_t, the Bayes-optimal fix is to swap priors: **PC softmax** adds log p_t − log p_s to the "
    "logits after training. **LADE** instead trains the logits f to be free of p_s (CE on f + log p_s, plus a "
    "regulariser), so predicting under p_t is simply f + log p_t; logit adjustment (LA) and balanced softmax "
    "share that form.")
st.latex(r"\text{PC: } \hat y=\arg\max_y f_y(x)+\log p_t(y)-\log p_s(y)\qquad"
         r"\text{LA / BS / LADE: } \hat y=\arg\max_y f_y(x)+\log p_t(y)")


def trained(dataset: str, imbalance: float, seed: int) -> dict[str, np.ndarray] | None:
    """The five methods trained on this long-tailed draw, as a background job started on the first view:
    {method: logits on the balanced pool}, or None (with a progress bar) while they train."""
    cfg = dict(task="lt", dataset=dataset, methods=tasks.methods("lt"), folds=seed + 1, fold_ids=[seed],
               imbalance=imbalance, step_events=False)
    # started on the first view of a draw; a draw the reader left while it trained is stopped
    run_id = bg.session_run(PAGE, cfg, auto=True, replace=True, what="training this draw")
    v = bg.run_view(run_id) if run_id else None
    if v is None:
        bg.forget(PAGE, cfg)
        return None
    if bg.is_live(v):
        bg.watch(run_id, lambda w: None, every=0.5, what="Training CE, PC, LA, balanced softmax and LADE:",
                 errors=False)
        return None
    if v["status"] != "done":
        st.warning(f"Training ended {v['status']}{': ' + v['error'] if v.get('error') else ''}.")
        bg.forget(PAGE, cfg)
        return None
    preds = ui.registry().store.predictions(run_id)
    return {m: p.astype(np.float64) for (m, f), (_, p) in preds.items() if f == seed}


with ui.friendly_errors("Label shift"):
    c = st.columns(3)
    dataset = ui.control("select", "data", f"{PAGE}_data", "digits-lt", container=c[0],
                         options=list(tasks.get("lt").datasets))
    R = float(ui.control("select_slider", "training imbalance ratio", f"{PAGE}_R", 100, container=c[1], cast=int,
                         options=[10, 20, 50, 100, 200]))
    seed = int(ui.control("number", "seed", f"{PAGE}_seed", 0, container=c[2], min_value=0, max_value=100))
    data = LT.load_lt(dataset, R, seed)
    C = data.n_classes
    shift = ui.control("slider", "test prior: −1 backward long-tailed · 0 uniform · +1 forward (like training)",
                       f"{PAGE}_shift", 0.0, min_value=-1.0, max_value=1.0, step=0.05)
    p_t = LT.shifted_prior(R, shift, C)
    labels = [f"c{j} ({s})" for j, s in enumerate(data.shots())]
    ui.plot(st, viz.distribution_bars({"p_s (training)": data.prior, "p_t (test)": p_t}, labels,
                                          title=f"Training prior (imbalance {R:g}) and the test prior"),
                    key=f"{PAGE}_priors")
    logits = trained(dataset, R, seed)
    if not logits:
        st.stop()
    rule = {m: LT.prediction_rule(m) for m in logits}
    acc = {m: LT.accuracy_under_prior(rule[m], logits[m], data, p_t) for m in logits}
    c1, c2 = st.columns(2)
    ui.plot(c1, viz.distribution_bars({"accuracy": np.array(list(acc.values()))}, list(acc),
                                          title="Accuracy under this test prior"), key=f"{PAGE}_acc")
    grid = np.linspace(-1, 1, 41)
    curves = {m: np.array([LT.accuracy_under_prior(rule[m], logits[m], data, LT.shifted_prior(R, s, C)) for s in grid])
              for m in logits}
    ui.plot(c2, viz.curves(grid, curves, title="Accuracy vs test-prior shift", xaxis="shift (−1 backward … +1 forward)",
                               yaxis="expected accuracy", marker_x=shift), key=f"{PAGE}_curve")
    st.caption("Expected accuracy under p_t = Σ_c p_t(c)·recall_c, with recalls measured on a balanced pool of "
               f"{len(data.y_pool)} test images and predictions that use p_t — no resampling noise. Plain CE ignores "
               "p_t: it is right only when the test set looks like the training set (shift +1).")
    st.subheader("How one prediction moves")
    i = int(ui.control("number", "test image (balanced pool index)", f"{PAGE}_i",
                       int(np.nonzero(data.y_pool == C - 1)[0][0]), min_value=0, max_value=len(data.y_pool) - 1))
    probs = {}
    for m in ("ce", "pc", "lade"):
        z = adjust(rule[m], logits[m][i][None], data.prior, p_t)[0]
        e = np.exp(z - z.max())
        probs[m.upper()] = e / e.sum()
    ui.plot(st, viz.distribution_bars(probs, labels, title=f"Predicted class probabilities for image {i} "
                                                              f"(true class c{data.y_pool[i]})"), key=f"{PAGE}_one")
