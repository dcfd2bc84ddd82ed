"""Live Plotly charts that keep the reader's zoom and legend state while data arrive.

`st.plotly_chart` redraws its figure from scratch on every rerun in this Streamlit (its `uirevision` is not
honoured: measured, and Streamlit issue #5107), so a zoom into a running job's curves is undone within a second.
This component is a small HTML page (assets/live_chart/index.html) that Streamlit keeps across reruns: new
figures arrive as arguments and `Plotly.react` updates the same plot, so `layout.uirevision` keeps the zoom, the
pans and the hidden legend entries. plotly.js comes from the installed plotly package (nothing is downloaded).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st
import streamlit.components.v1 as components

HTML = Path(__file__).resolve().parent.parent.parent / "assets" / "live_chart" / "index.html"


def _build() -> Path:
    """The component's folder: our page next to the plotly.js the plotly package ships."""
    d = Path(tempfile.gettempdir()) / f"ildl-live-chart-{plotly.__version__}"
    d.mkdir(parents=True, exist_ok=True)
    js = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    for src, name in ((js, "plotly.min.js"), (HTML, "index.html")):
        dst = d / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size or name == "index.html":
            tmp = d / f".{name}.{os.getpid()}"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)  # atomic: a second server starting at once never reads half a file
    return d


try:
    _component = components.declare_component("ildl_live_chart", path=str(_build()))
except OSError:  # no writable temp dir: plain st.plotly_chart (the zoom is then lost on each poll)
    _component = None


def live_chart(fig: go.Figure, key: str, height: int | None = None) -> None:
    """Draw `fig` (give it layout.uirevision = what identifies its data, e.g. the run id) and keep the reader's
    interaction state across redraws of the same revision."""
    from pages._ui.common import export_config

    if _component is None:
        st.plotly_chart(fig, key=key, config=export_config(key))
        return
    _component(figure=pio.to_json(fig, validate=False), height=int(height or fig.layout.height or 400), key=key,
               config=export_config(key), default=None)
