"""Imbalanced LDL lab — home page. Run with `streamlit run app.py`."""
import streamlit as st

st.set_page_config(page_title="Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
st.title("Imbalanced label-distribution learning lab")  # painted before anything else is even imported

from ildl import viz  # noqa: E402
from pages._ui import common as ui  # noqa: E402

ui.sidebar("home", show=("dataset",))
st.markdown(
    "Each sample carries a **label distribution** — how much every label describes it. When the training "
    "distributions are dominated by one label, a model learns that label and starves the others. This lab "
    "shows why, and what the methods of the recent papers do about it.")
st.markdown(
    "- **Data** — pick the synthetic generator, a bundled benchmark or your own file; see how the ILDL protocol "
    "makes the training set imbalanced while the test folds are not.\n"
    "- **Train** — train a method in the background (LDL-KL, OFR-FL/CB/DB, RDA, DILDL, AMEMA, +PC) and watch "
    "its losses, AMEMA's EMA branch weights and branch momenta, and validation metrics live; replay the training.\n"
    "- **Decoupling** — a distribution = dominant part + non-dominant part; the KL identity checked live, and why "
    "plain KL starves the non-dominant labels as d_k grows (gradient attenuation).\n"
    "- **Soft labels** — symmetric descending soft labels turn a group id into a distribution (Group-DIR); the "
    "age imbalance of FG-Net and its many/medium/few-shot regions.\n"
    "- **Ablation** — the papers' ablation grids train in the background (AMEMA's batched) and the table fills in.\n"
    "- **Compare** — finished runs side by side: samples, per-label errors, a radar, curves overlaid.\n"
    "- **Label shift** — PC softmax and LADE: move the test prior and watch the predictions follow.\n"
    "- Every run is saved (config, events, results) under `runs/`: a refresh or a restart loses nothing.")


@st.fragment(run_every=1.0 if "detecting" in ui.device_line(wait=False) else None)
def device() -> None:
    """The device line, filled in when the background warm-up has loaded torch (the page does not wait for it)."""
    line = ui.device_line(wait=False)
    st.caption(f"Device: **{line}** · every method's equations, defaults and the places where the project's choices "
               "differ from the papers: `docs/methods.md` in the project folder.")
    if "detecting" not in line and st.session_state.get("_home_waited"):
        st.session_state["_home_waited"] = False
        st.rerun()  # once: the timer stops and the sidebar shows the device too
    st.session_state["_home_waited"] = "detecting" in line


device()

with ui.friendly_errors("Loading the dataset"):
    ds = ui.current_dataset()
    if ds is not None:
        c1, c2 = st.columns([1, 2])
        c1.metric("Dataset", ds.name)
        c1.write(f"{ds.n} samples · {ds.d} features · {ds.n_labels} labels")
        c1.write(f"mean dominant degree d_k = {ds.Y.max(1).mean():.2f}")
        c1.caption(ds.source)
        ui.plot(c2, viz.heatmap(ds.Y, ds.labels(), max_rows=200, title="Label distributions (thumbnail)"),
                        key="home_thumb")

st.page_link("pages/1_Data.py", label="Explore the data →", icon=":material/dataset:")
st.page_link("pages/2_Train.py", label="Train a method →", icon=":material/model_training:")
st.page_link("pages/3_Decoupling.py", label="See decoupling and gradient attenuation →", icon=":material/call_split:")
st.page_link("pages/4_Soft_labels.py", label="Play with soft labels →", icon=":material/tune:")
st.page_link("pages/5_Ablation.py", label="Run an ablation study →", icon=":material/science:")
st.page_link("pages/6_Compare.py", label="Compare runs →", icon=":material/compare:")
st.page_link("pages/7_Label_shift.py", label="Shift the test prior →", icon=":material/swap_horiz:")

ui.warm_up()  # only now, with the page drawn: torch and the registries load in the background
