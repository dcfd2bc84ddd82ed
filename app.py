"""Imbalanced LDL lab — placeholder home page (the dashboard pages build on `ildl`)."""
import streamlit as st

from ildl.data import make_synthetic
from ildl.device import describe

st.set_page_config(page_title="Imbalanced LDL lab", layout="wide")
st.title("Imbalanced label-distribution learning lab")
st.caption(f"Device: {describe()}")
ds = make_synthetic()
st.write(f"Default dataset: synthetic, n={ds.n}, d={ds.d}, {ds.n_labels} labels")
