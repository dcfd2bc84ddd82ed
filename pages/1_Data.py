"""Data: choose a dataset, see its imbalance under the chosen protocol."""
import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from ildl import data as D
from ildl import viz
from ildl.protocol import imbalance_report, imbalance_sentence
from pages._ui import common as ui

PAGE = "data"
st.set_page_config(page_title="Data · Imbalanced LDL lab", page_icon=":material/insights:", layout="wide")
ui.sidebar(PAGE, show=("dataset", "protocol"))
s = ui.state()
st.title("Data")


@st.cache_data(show_spinner=False)
def thumbs() -> list[tuple[str, str, np.ndarray]]:
    out = []
    for name in ["synthetic", *D.bundled_names()]:
        d = ui.load_dataset(name, tuple(sorted(D.SYNTHETIC_DEFAULTS.items())) if name == "synthetic" else ())
        out.append((name, f"{d.n}×{d.d}, {d.n_labels} labels", viz.thumbnail(d.Y)))
    return out


with ui.friendly_errors("Drawing the dataset thumbnails"):
    cols = st.columns(10)
    for col, (name, info, img) in zip(cols, thumbs()):
        col.image(img, caption=f"{name} · {info}", width="stretch")
        if col.button("use", key=f"{PAGE}_use_{name}", disabled=s["dataset"] == name,
                      type="primary" if s["dataset"] == name else "secondary"):
            ui.set_choice("dataset", name, PAGE)

# ---------------------------------------------------------------- source
if s["dataset"] == "synthetic":
    st.subheader("Synthetic generator")
    st.caption("The dominant label of each sample follows a profile (tail: label 0 most often; centre: the middle "
               "label, which the ILDL filter then keeps rare in training); the label distribution is a softmax of "
               "latent scores and the features a noisy non-linear map of them. Every slider regenerates the data "
               "at once.")
    n_presets = len(D.SYNTHETIC_PRESETS)
    pcols = st.columns([1] * n_presets + [3])
    for col, (pname, values) in zip(pcols, D.SYNTHETIC_PRESETS.items()):
        on = all(s["syn"][k] == v for k, v in values.items())
        if col.button(pname, key=f"{PAGE}_preset_{pname}", type="primary" if on else "secondary", disabled=on,
                      help=D.preset_text(values)):
            s["syn"].update(values)
            for k in values:  # the sliders below take the preset's values
                st.session_state.pop(f"{PAGE}_syn_{k}", None)
    pcols[n_presets].caption("Presets from `bench/regimes.py`: where plain KL wins (features explain y), where "
                             "nothing beats the constant predictors by much (Movie-like: x explains little, the "
                             "training prior is far from the test one), where the decoupled loss learns the "
                             "non-dominant shape better; and from `bench/centred.py` Movie's filter: the training "
                             "folds lose the label the test folds centre on.")
    cols = st.columns(len(D.SYNTHETIC_PARAMS))
    for col, p in zip(cols, D.SYNTHETIC_PARAMS):
        s["syn"][p.name] = ui.param_widget(p, s["syn"][p.name], key=f"{PAGE}_syn_{p.name}", container=col)
    ui.sync_url()

with st.expander("Upload your own dataset (.mat, .npz or .csv)", expanded=s["dataset"] == ui.UPLOAD):
    st.caption(".mat / .npz need arrays `features` (n×d) and `labels` (n×C, rows are distributions); a CSV needs "
               "feature columns plus label columns named `label_*` / `y_*` or listed below. Files are validated; "
               "nothing is unpickled.")
    c1, c2 = st.columns([3, 1])
    label_cols = c1.text_input("CSV label columns (comma-separated; blank = label_*/y_* columns)", key=f"{PAGE}_csvcols")
    renorm = c2.toggle("Renormalise label rows", key=f"{PAGE}_renorm",
                       help="divide each label row by its sum (for rows that do not quite sum to 1)")
    up = st.file_uploader("Dataset file", type=["mat", "npz", "csv"], key=f"{PAGE}_upload")
    if up is not None:
        raw = up.getvalue()
        digest = hashlib.sha1(raw).hexdigest()[:12]
        prev = st.session_state.get("upload")
        if prev is None or prev["hash"] != digest or prev.get("cols") != label_cols or prev.get("renorm") != renorm:
            failed = True
            with ui.friendly_errors(f"Reading {up.name}"):
                cols = [c.strip() for c in label_cols.split(",") if c.strip()] or None
                ds_up = D.load_bytes(raw, up.name, label_columns=cols, normalize=renorm)
                st.session_state["upload"] = dict(name=ds_up.name, hash=digest, dataset=ds_up, cols=label_cols,
                                                  renorm=renorm)
                failed = False
                ui.set_choice("dataset", ui.UPLOAD, PAGE)
            if failed:
                shown = prev["name"] + " (your earlier upload)" if s["dataset"] == ui.UPLOAD and prev else s["dataset"]
                st.info(f"{up.name} was not loaded: the analysis below still shows **{shown}**.")
        elif s["dataset"] == ui.UPLOAD:
            st.success(f"Using {up.name}: {prev['dataset'].n} samples, {prev['dataset'].d} features, "
                       f"{prev['dataset'].n_labels} labels.")

# ---------------------------------------------------------------- imbalance
with ui.friendly_errors("Analysing the dataset"):
    ds = ui.current_dataset()
    if ds is not None:
        for w in ds.warnings:
            st.warning(w)
        th_default = ui.thresholds_for(ds)
        c1, c2 = st.columns([3, 1])
        th_text = c1.text_input("ILDL thresholds a,b,c,d — keep sample i iff y[i,c] < a/L and y[i,d] > b/L",
                                value=",".join(f"{v:g}" for v in th_default) if th_default else "",
                                key=f"{PAGE}_thresholds_{ui.dataset_key()}",
                                help="built in for the papers' benchmarks (Movie: 1,2,2,0)")
        if th_text.strip():
            parsed = ui.parse_thresholds(th_text)
            if parsed is None:
                c1.error("Thresholds must be four numbers a,b,c,d, e.g. 1,2,2,0")
            elif parsed != tuple(ds.thresholds or ()):
                s["thresholds"] = parsed
                ui.sync_url()
        proto, note = ui.current_protocol(ds)
        if note:
            st.info(note)
        rep = imbalance_report(ds, proto)
        labels = ds.labels()
        m = st.columns([2, 1, 2, 2, 2])
        m[0].metric("samples × features", f"{ds.n} × {ds.d}")
        m[1].metric("labels", ds.n_labels)
        m[2].metric("training set per fold", f"{int(np.mean(rep['train_sizes']))}",
                    help=f"kept by the {proto.name} protocol; test folds: {int(np.mean(rep['test_sizes']))}")
        m[3].metric("imbalance ratio (training mass)", f"{rep['imbalance_ratio']:.1f}×")
        m[4].metric("mean dominant degree", f"{rep['mean_dk']:.2f}")
        st.markdown(imbalance_sentence(rep, labels))
        c1, c2 = st.columns(2)
        ui.plot(c1, viz.label_mass(rep["train_mass"], rep["test_mass"], labels, rep["head"]), key=f"{PAGE}_mass")
        kept0 = proto.splits[0].kept
        ui.plot(c2, viz.dominant_hist(ds.Y[kept0], labels, title="d_k in the training set (fold 0)"),
                        key=f"{PAGE}_dk_train")
        c1, c2 = st.columns(2)
        ui.plot(c1, viz.heatmap(ds.Y, labels, title="All samples"), key=f"{PAGE}_heat_all")
        ui.plot(c2, viz.heatmap(ds.Y[kept0], labels, title=f"Training set of fold 0 ({proto.name})"),
                        key=f"{PAGE}_heat_train")
        ui.plot(st, viz.dominant_hist(ds.Y, labels, title="d_k over all samples"), key=f"{PAGE}_dk_all")
        st.subheader("Features")
        X = ds.X
        st.write(f"{X.shape[1]} features · {rep['feature_zero_fraction']:.1%} of all values are zero · "
                 f"range [{X.min():.3g}, {X.max():.3g}]. Scaling (min-max, fitted on each training part only) "
                 "happens in the trainer.")
        summ = pd.DataFrame({"mean": X.mean(0), "std": X.std(0), "min": X.min(0), "max": X.max(0),
                             "zero fraction": (X == 0).mean(0)})
        st.dataframe(summ.head(50), height=240)
