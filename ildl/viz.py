"""Plotly figures and tables built from datasets and event streams (no UI framework here).

The app's pages only place these figures; they are plain functions, so notebooks and tests use
them too. Arrays go to Plotly as numpy arrays.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .metrics import LOWER_IS_BETTER, SIX

# Okabe & Ito's colour-blind-safe palette (blue, orange, bluish green, reddish purple, sky blue, vermillion,
# black), then grey (constant predictors) and two more distinct hues; no red beside green.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999",
           "#882255", "#44AA99")
MAX_POINTS = 600  # per line on screen: long runs are strided, the saved events keep everything


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def smooth(values: Sequence[float], weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average (weight 0 = raw)."""
    v = np.asarray(values, np.float64)
    if weight <= 0 or v.size == 0:
        return v
    out = np.empty_like(v)
    last, num = 0.0, 0
    for i, x in enumerate(v):
        last = weight * last + (1 - weight) * x
        num += 1
        out[i] = last / (1 - weight**num)
    return out


def _stride(n: int) -> slice:
    return slice(None, None, max(1, int(np.ceil(n / MAX_POINTS))))


# --------------------------------------------------------------------------- data views
def heatmap(Y: np.ndarray, labels: Sequence[str], max_rows: int = 500, title: str = "") -> go.Figure:
    """Samples × labels, sorted by dominant label then by its degree (an even subsample past max_rows)."""
    k = Y.argmax(1)
    order = np.lexsort((-Y.max(1), k))
    if len(order) > max_rows:
        order = order[np.linspace(0, len(order) - 1, max_rows).astype(int)]
    fig = go.Figure(go.Heatmap(z=Y[order], x=np.asarray(labels), colorscale="Viridis", zmin=0, zmax=1,
                               colorbar=dict(title="degree")))
    fig.update_layout(title=title or "Label distributions (rows sorted by dominant label)", height=380,
                      yaxis=dict(title="sample", showticklabels=False), margin=dict(t=40, b=30))
    return fig


def label_mass(train: np.ndarray, test: np.ndarray, labels: Sequence[str], head: np.ndarray) -> go.Figure:
    """Share of the total degree per label in the kept training sets vs the test folds."""
    lab = np.asarray([f"{l} ({'head' if h else 'tail'})" for l, h in zip(labels, head)])
    fig = go.Figure([go.Bar(name="training (kept)", x=lab, y=train / train.sum(), marker_color=color(0)),
                     go.Bar(name="test", x=lab, y=test / test.sum(), marker_color=color(3))])
    fig.update_layout(barmode="group", title="Per-label mass: training vs test", yaxis_title="share of mass",
                      height=330, margin=dict(t=40, b=30))
    return fig


def dominant_hist(Y: np.ndarray, labels: Sequence[str], title: str = "") -> go.Figure:
    """Histogram of the dominant degree d_k, stacked by dominant label."""
    k, dk = Y.argmax(1), Y.max(1)
    fig = go.Figure([go.Histogram(x=dk[k == j], name=str(labels[j]), marker_color=color(j),
                                  xbins=dict(start=0, end=1, size=0.025)) for j in range(Y.shape[1]) if (k == j).any()])
    fig.update_layout(barmode="stack", title=title or "Dominant degree d_k (stacked by dominant label)",
                      xaxis_title="d_k", yaxis_title="samples", height=330, margin=dict(t=40, b=30))
    return fig


def distribution_bars(rows: dict[str, np.ndarray], labels: Sequence[str], title: str = "",
                      colors: dict[str, str] | None = None) -> go.Figure:
    """Grouped bars of several distributions over the same labels (truth, predictions, decoupled parts);
    `colors` fixes a colour per series name (a run's colour on the Compare page)."""
    fig = go.Figure([go.Bar(name=n, x=np.asarray(labels), y=np.asarray(v),
                            marker_color=(colors or {}).get(n, color(i)))
                     for i, (n, v) in enumerate(rows.items())])
    fig.update_layout(barmode="group", title=title, yaxis=dict(range=[0, 1]), height=300, margin=dict(t=40, b=30))
    return fig


# --------------------------------------------------------------------------- training views
def steps_frame(steps: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(steps))


def epochs_frame(events: Iterable[dict[str, Any]], kind: str = "epoch") -> pd.DataFrame:
    """Per-epoch events of one type (`epoch`: validation; `diag`: the test diagnostic) as a frame."""
    return pd.DataFrame([e for e in events if e.get("type") == kind])


DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
X_AXES = {"step": "step", "epoch": "epoch", "time": "time (s)", "wall": "wall clock"}


def with_x(df: pd.DataFrame, x: str, started: float | None = None) -> pd.DataFrame:
    """The frame with a column for the chosen x axis (TensorBoard's step / relative / wall):
    'step'; 'epoch' (fractional within an epoch for step events); 'time' (seconds since the run started,
    the events' `t`); 'wall' (clock time, when the start time is known)."""
    if df.empty:
        return df
    df = df.copy()
    if x == "epoch" and "step" in df and "epoch" in df and df.groupby(["fold", "epoch"]).size().max() > 1:
        k = df.groupby(["method", "fold", "epoch"]).cumcount() + 1
        n = df.groupby(["method", "fold", "epoch"])["step"].transform("size")
        df["_x"] = df["epoch"] - 1 + k / n
    elif x in ("time", "wall") and "t" in df:
        df["_x"] = df["t"] if x == "time" or started is None else pd.to_datetime(started + df["t"], unit="s")
    else:
        df["_x"] = df[x if x in df else "step" if "step" in df else "epoch"]
    return df


def _traces(df: pd.DataFrame, ys: Sequence[str], x: str, smoothing: float, xa: str = "x", ya: str = "y",
            legend: str | None = "legend", colors: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Line traces as plain dicts: one per (y, method, fold) — the colour follows y (or `colors`), the dash the
    fold — with a faint raw line under the smoothed one (TensorBoard style)."""
    traces: list[dict[str, Any]] = []
    if df.empty:
        return traces
    xcol = "_x" if "_x" in df else x
    groups = df.groupby(["method", "fold"], sort=False) if {"method", "fold"} <= set(df.columns) else [(("", ""), df)]
    groups = list(groups)
    several = len(groups) > 1
    for gi, ((method, fold), g) in enumerate(groups):
        sl = _stride(len(g))
        xs = g[xcol].to_numpy()[sl]
        for yi, y in enumerate(ys):
            if y not in g or g[y].isna().all():
                continue
            name = y + (f" · {method} f{fold}" if several and method != "" else "")
            raw = g[y].to_numpy(np.float64)
            c = (colors or {}).get(y, color(yi))
            dash = DASHES[gi % len(DASHES)]
            common = dict(type="scatter", mode="lines", xaxis=xa, yaxis=ya, legendgroup=f"{ya}{y}")
            if legend:
                common["legend"] = legend
            if smoothing > 0:
                traces.append(dict(common, x=xs, y=raw[sl], line=dict(color=c, width=1, dash=dash), opacity=0.25,
                                   name=name + " (raw)", showlegend=False, hoverinfo="skip"))
            traces.append(dict(common, x=xs, y=smooth(raw, smoothing)[sl], line=dict(color=c, width=2, dash=dash),
                               name=name, showlegend=legend is not None))
    return traces


def line_chart(df: pd.DataFrame, ys: Sequence[str], *, x: str = "step", smoothing: float = 0.0,
               title: str = "", yaxis: str = "", log_y: bool = False, height: int = 300) -> go.Figure:
    """One line per (method, fold, y); a faint raw line under the smoothed one (TensorBoard style)."""
    return panel([dict(df=df, ys=ys, x=x, smoothing=smoothing, title=title, log_y=log_y, yaxis=yaxis)],
                 cols=1, row_height=height)


def _y_axis(traces: list[dict[str, Any]], want_log: bool) -> dict[str, Any]:
    """A log axis only for positive data (a loss that can be ≤ 0, e.g. RDA's normalised `pred`, is drawn
    linear: on a log axis its line would vanish), with one labelled tick per decade (no '3, 2, 0.1, 9, 8…')."""
    ys = np.concatenate([np.asarray(t["y"], np.float64) for t in traces if len(t.get("y", ()))] or [np.zeros(0)])
    ys = ys[np.isfinite(ys)]
    if not want_log or ys.size == 0 or (ys <= 0).any():
        return dict(type="linear")
    span = np.log10(ys.max()) - np.log10(ys.min())
    return dict(type="log", dtick=1 if span >= 1 else "D2", exponentformat="power", minor=dict(showgrid=False))


def panel(charts: Sequence[dict[str, Any]], cols: int = 2, row_height: int = 300, title: str = "",
          revision: str | None = None) -> go.Figure:
    """Several line charts as subplots of *one* figure, built from plain dicts without Plotly's validation.

    The live page redraws these every second: one figure instead of five means one browser remount, and
    skipping validation saves ~5× the Python time. `revision` (Plotly's uirevision, e.g. the run id) keeps the
    reader's zoom, pans and hidden legend entries across redraws of the same run. Each chart has its own legend
    in its own corner. Each chart: dict(df, ys, x="step", smoothing=0, title, log_y=False, yaxis="", colors,
    note=an extra line under the title, hline=(y, label)).
    """
    n = len(charts)
    rows = (n + cols - 1) // cols
    gap_x, gap_y = 0.09, 0.44 / max(rows, 1)
    w = (1 - gap_x * (cols - 1)) / cols
    h = (1 - gap_y * (rows - 1)) / rows
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = dict(height=row_height * rows, margin=dict(t=40 if title else 30, b=30, l=50, r=10),
                                  annotations=[], shapes=[], showlegend=True)
    if revision is not None:
        layout["uirevision"] = revision
    if title:
        layout["title"] = dict(text=title)
    for i, c in enumerate(charts):
        r, col = divmod(i, cols)
        sfx = "" if i == 0 else str(i + 1)
        x0 = col * (w + gap_x)
        y1 = 1 - r * (h + gap_y)
        leg = "legend" + sfx
        tr = _traces(c["df"], c["ys"], c.get("x", "step"), c.get("smoothing", 0.0), "x" + sfx, "y" + sfx, leg,
                     c.get("colors"))
        data += tr
        # the legend sits under its own panel, never over the curves
        layout[leg] = dict(x=max(0.0, x0), y=max(0.0, y1 - h) - 0.09 / max(rows, 1), xanchor="left", yanchor="top",
                           xref="paper", yref="paper", orientation="h", font=dict(size=10), bgcolor="rgba(0,0,0,0)")
        layout["xaxis" + sfx] = dict(domain=[max(0.0, x0), min(1.0, x0 + w)], anchor="y" + sfx,
                                     title=dict(text=c.get("xtitle", c.get("x", "step")), standoff=2,
                                                font=dict(size=11)))
        layout["yaxis" + sfx] = dict(domain=[max(0.0, y1 - h), min(1.0, y1)], anchor="x" + sfx,
                                     title=dict(text=c.get("yaxis", "")), **_y_axis(tr, bool(c.get("log_y"))))
        text = c.get("title", "") + ("" if tr else " — waiting for data")
        note = f"<br><span style='font-size:10px'>{c['note']}</span>" if c.get("note") else ""
        layout["annotations"].append(dict(text=f"<b>{text}</b>{note}", x=x0, y=y1 + 0.01, xref="paper",
                                          yref="paper", xanchor="left", yanchor="bottom", showarrow=False))
        if c.get("hline") is not None:
            yv, label = c["hline"]
            layout["shapes"].append(dict(type="line", xref=f"x{sfx} domain", x0=0, x1=1, yref="y" + sfx, y0=yv,
                                         y1=yv, line=dict(color="#555", dash="dot", width=1)))
            layout["annotations"].append(dict(text=label, xref=f"x{sfx} domain", x=0.01, yref="y" + sfx, y=yv,
                                              xanchor="left", yanchor="bottom", showarrow=False,
                                              font=dict(size=9, color="#555")))
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def results_table(rows: list[dict[str, Any]], metrics: Sequence[str] = SIX, by: Sequence[str] = ("method",)) -> pd.DataFrame:
    """method → mean ± std per metric (string cells) and the fold count."""
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    by = [b for b in by if b in df.columns]
    if "select" in by:  # constant predictors have no epoch to select
        df["select"] = df["select"].fillna("-")
    out = []
    for key, g in df.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        r = {**dict(zip(by, key)), "folds": len(g)}
        for k in metrics:
            if k not in g:
                continue
            # one fold has no spread to show: the value alone, not '± 0.0000'
            r[k] = f"{g[k].mean():.4f}" + (f" ± {g[k].std(ddof=0):.4f}" if len(g) > 1 else "")
        out.append(r)
    return pd.DataFrame(out)


def replay(snapshots: list[dict[str, Any]], truth: Sequence[Sequence[float]], labels: Sequence[str],
           curves: pd.DataFrame | None = None, curve_cols: Sequence[str] = ("val_kl",)) -> go.Figure:
    """Animated replay: predicted vs true distribution of the watched test samples per epoch, with a
    play/pause button and a slider; optional per-epoch curves with a moving marker underneath."""
    truth = np.asarray(truth, np.float64)
    n = len(truth)
    if not snapshots or n == 0:
        return go.Figure().update_layout(title="Replay — no snapshots yet", height=200)
    snaps = snapshots[_stride(len(snapshots))] if len(snapshots) > 150 else snapshots
    has_curves = curves is not None and not curves.empty
    rows = 2 if has_curves else 1
    fig = make_subplots(rows=rows, cols=n, subplot_titles=[f"test sample {i}" for i in range(n)],
                        specs=[[{}] * n] + ([[{"colspan": n}] + [None] * (n - 1)] if has_curves else []),
                        vertical_spacing=0.18, row_heights=[0.6, 0.4] if has_curves else None)
    lab = np.asarray(labels)

    def bar_traces(pred):
        tr = []
        for i in range(n):
            tr.append(go.Bar(x=lab, y=truth[i], marker_color="#999999", name="true", showlegend=i == 0,
                             legendgroup="true"))
            tr.append(go.Bar(x=lab, y=np.asarray(pred[i]), marker_color=color(0), name="predicted",
                             showlegend=i == 0, legendgroup="pred"))
        return tr

    first = bar_traces(snaps[0]["pred"])
    for j, t in enumerate(first):
        fig.add_trace(t, row=1, col=j // 2 + 1)
    n_bar = len(first)
    if has_curves:
        for ci, col in enumerate(curve_cols):
            fig.add_trace(go.Scatter(x=curves["epoch"].to_numpy(), y=curves[col].to_numpy(), mode="lines",
                                     name=col, line=dict(color=color(ci + 1))), row=2, col=1)
        fig.add_trace(go.Scatter(x=[snaps[0]["epoch"]], y=[curves[curve_cols[0]].iloc[0]], mode="markers",
                                 marker=dict(size=12, color="black"), name="now", showlegend=False), row=2, col=1)
    by_epoch = curves.set_index("epoch")[curve_cols[0]] if has_curves else None
    frames = []
    for s in snaps:
        data = bar_traces(s["pred"])
        idx = list(range(n_bar))
        if has_curves:
            yv = float(by_epoch.get(s["epoch"], np.nan))
            data.append(go.Scatter(x=[s["epoch"]], y=[yv]))
            idx.append(n_bar + len(curve_cols))
        frames.append(go.Frame(data=data, traces=idx, name=str(s["epoch"])))
    fig.frames = frames
    steps = [dict(method="animate", label=str(s["epoch"]),
                  args=[[str(s["epoch"])], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                transition=dict(duration=0))]) for s in snaps]
    fig.update_layout(
        barmode="group", height=520 if has_curves else 360, margin=dict(t=60, b=40),
        title=f"Replay over {len(snaps)} epochs ({snaps[0].get('method', '')} fold {snaps[0].get('fold', '')})",
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.12 if has_curves else -0.2, showactive=False,
                          buttons=[dict(label="▶ Play", method="animate",
                                        args=[None, dict(frame=dict(duration=80, redraw=True), fromcurrent=True)]),
                                   dict(label="⏸ Pause", method="animate",
                                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])],
        sliders=[dict(active=0, steps=steps, x=0.15, len=0.85, y=-0.06 if has_curves else -0.12,
                      currentvalue=dict(prefix="epoch "))])
    fig.update_yaxes(range=[0, 1], row=1)
    return fig


# --------------------------------------------------------------------------- teaching views
def matrix(M: np.ndarray, x: Sequence, y: Sequence, title: str = "", zmax: float | None = None,
           xaxis: str = "", yaxis: str = "", height: int = 380) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=np.asarray(M), x=np.asarray(x), y=np.asarray(y), colorscale="Viridis", zmin=0,
                               zmax=zmax))
    fig.update_layout(title=title, height=height, xaxis_title=xaxis, yaxis_title=yaxis, margin=dict(t=40, b=30))
    fig.update_yaxes(autorange="reversed")
    return fig


def curves(x: np.ndarray, series: dict[str, np.ndarray], *, title: str = "", xaxis: str = "", yaxis: str = "",
           marker_x: float | None = None, dashed: Sequence[str] = (), height: int = 330) -> go.Figure:
    """Several y(x) lines on one axis; an optional vertical marker (the current slider value)."""
    fig = go.Figure()
    for i, (name, y) in enumerate(series.items()):
        fig.add_trace(go.Scatter(x=np.asarray(x), y=np.asarray(y), mode="lines", name=name,
                                 line=dict(color=color(i), width=2, dash="dash" if name in dashed else "solid")))
    if marker_x is not None:
        fig.add_vline(x=float(marker_x), line=dict(color="black", dash="dot"))
    fig.update_layout(title=title, height=height, xaxis_title=xaxis, yaxis_title=yaxis, margin=dict(t=40, b=30))
    return fig


def histogram(values: np.ndarray, *, title: str = "", xaxis: str = "", nbins: int = 40, edges: np.ndarray | None = None,
              height: int = 330) -> go.Figure:
    fig = go.Figure(go.Histogram(x=np.asarray(values), nbinsx=nbins, marker_color=color(0)))
    for e in (edges if edges is not None else []):
        fig.add_vline(x=float(e), line=dict(color="#d62728", width=1))
    fig.update_layout(title=title, height=height, xaxis_title=xaxis, yaxis_title="samples", margin=dict(t=40, b=30),
                      bargap=0.02)
    return fig


def shot_bars(bins: np.ndarray, counts: np.ndarray, regions: np.ndarray, thresholds: tuple[float, float],
              title: str = "") -> go.Figure:
    """Training samples per target bin, coloured by shot region, with the two thresholds."""
    cmap = {"many": color(2), "medium": color(3), "few": color(1)}
    fig = go.Figure([go.Bar(x=np.asarray(bins)[regions == r], y=np.asarray(counts)[regions == r], name=r,
                            marker_color=cmap[r]) for r in ("many", "medium", "few") if (regions == r).any()])
    for t, n in zip(thresholds, ("many >", "few <")):
        fig.add_hline(y=t, line=dict(dash="dot", color="black"), annotation_text=f"{n} {t:.1f}")
    fig.update_layout(title=title, height=330, xaxis_title="target bin", yaxis_title="training samples",
                      margin=dict(t=40, b=30), bargap=0.05)
    return fig


def metric_bars(t: pd.DataFrame, rows: list[dict[str, Any]], metric: str, published: bool = True,
                lower: bool | None = None) -> go.Figure:
    """One metric of a study table: mean ± std per configuration (constant predictors grey), published figures as
    diamonds — every mark named in the legend under the chart."""
    if t.empty:
        return go.Figure().update_layout(title=f"{metric} — no finished folds yet", height=280)
    df = pd.DataFrame(rows)
    names = [c.replace(" (oracle)", "") for c in t["config"]]
    std = [float(df[df["config"] == c][metric].std(ddof=0)) for c in names]
    fig = go.Figure()
    for kind, label, col in (("trained", "ours (mean ± std over folds)", color(0)),
                             ("reference", "reference method, its defaults", color(4)),
                             ("constant", "constant predictor", color(7))):
        sel = (t["kind"] == kind).to_numpy()
        if sel.any():
            fig.add_trace(go.Bar(x=np.asarray(t["config"])[sel], y=t[f"{metric}_mean"].to_numpy()[sel],
                                 marker_color=col, error_y=dict(type="data", array=np.asarray(std)[sel]), name=label))
    pub = t.get(f"{metric}_published")
    if published and pub is not None and pub.notna().any():
        fig.add_trace(go.Scatter(x=np.asarray(t["config"]), y=pub.to_numpy(dtype=float), mode="markers",
                                 marker=dict(symbol="diamond", size=11, color=color(1)), name="published (paper)"))
    arrow = "↓" if (LOWER_IS_BETTER.get(metric, True) if lower is None else lower) else "↑"
    fig.update_layout(title=f"{metric} {arrow}", height=330, margin=dict(t=40, b=30), showlegend=True,
                      legend=dict(orientation="h", y=-0.35, font=dict(size=10)), barmode="overlay")
    return fig


def radar(scores: dict[str, dict[str, float]], title: str = "", colors: dict[str, str] | None = None) -> go.Figure:
    """Runs × metrics on a radar; `scores[run][metric]` already oriented so that larger is better."""
    fig = go.Figure()
    for i, (name, s) in enumerate(scores.items()):
        ax = list(s)
        fig.add_trace(go.Scatterpolar(r=np.asarray([s[a] for a in ax] + [s[ax[0]]]), theta=np.asarray(ax + [ax[0]]),
                                      name=name, line=dict(color=(colors or {}).get(name, color(i)))))
    fig.update_layout(title=title, height=420, margin=dict(t=50, b=30), polar=dict(radialaxis=dict(visible=True)))
    return fig


_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64)


def thumbnail(Y: np.ndarray, height: int = 72, width: int = 96) -> np.ndarray:
    """A small RGB picture (height, width, 3) uint8 of a label matrix: rows sorted by dominant label then
    degree, columns = labels, viridis colours — the dataset's 'shape' at a glance."""
    k = Y.argmax(1)
    order = np.lexsort((-Y.max(1), k))
    rows = order[np.linspace(0, len(order) - 1, height).astype(int)]
    cols = np.minimum((np.arange(width) * Y.shape[1]) // width, Y.shape[1] - 1)
    v = np.clip(Y[rows][:, cols] / max(float(Y.max()), 1e-12), 0, 1) * (len(_VIRIDIS) - 1)
    lo = np.floor(v).astype(int).clip(0, len(_VIRIDIS) - 2)
    t = (v - lo)[..., None]
    return ((1 - t) * _VIRIDIS[lo] + t * _VIRIDIS[lo + 1]).astype(np.uint8)


DECOMPOSITION = ("kl", "kl_dominant", "kl_nondominant", "prior_gap", "dominant_acc")


def decomposition_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """method (and rule) → mean of the test KL, its two parts, the prior gap and the dominant-label accuracy."""
    df = pd.DataFrame(rows)
    if df.empty or any(c not in df for c in DECOMPOSITION):
        return pd.DataFrame()
    df["select"] = df["select"].fillna("-") if "select" in df else "-"
    out = df.groupby(["method", "select"], sort=False)[list(DECOMPOSITION)].mean().reset_index()
    out.insert(2, "folds", df.groupby(["method", "select"], sort=False).size().to_numpy())
    return out.round(4)


def error_sources(table: pd.DataFrame, height: int = 360) -> go.Figure:
    """Each method's test KL as a stacked bar, dominant degree + non-dominant shape (they add up to it), with
    the label-prior gap KL(ȳ‖p̄) as a diamond (≤ the KL by convexity: the share of it the mean prediction already
    misses)."""
    names = [m if s == "-" else f"{m} ({s})" for m, s in zip(table["method"], table["select"])]
    fig = go.Figure([
        go.Bar(x=names, y=table["kl_dominant"], name="dominant degree KL(b‖b′)", marker_color=color(0)),
        go.Bar(x=names, y=table["kl_nondominant"], name="non-dominant shape (1 − d_k)·KL(D̂‖p̂)", marker_color=color(3)),
        go.Scatter(x=names, y=table["prior_gap"], name="label prior KL(ȳ‖p̄)", mode="markers",
                   marker=dict(symbol="diamond", size=11, color="black")),
    ])
    fig.update_layout(barmode="stack", title="Where the test KL comes from", height=height, yaxis_title="nats",
                      margin=dict(t=40, b=30), legend=dict(orientation="h", y=-0.25))
    return fig


def dk_profile(profile: pd.DataFrame, part: str = "kl", height: int = 330) -> go.Figure:
    """Mean test error per d_k bin, one line per method (constant predictors dashed)."""
    fig = go.Figure()
    for i, (m, g) in enumerate(profile.groupby("method", sort=False)):
        mid = (g["lo"] + g["hi"]) / 2
        fig.add_trace(go.Scatter(x=mid, y=g[part], mode="lines+markers", name=m, customdata=g["n"],
                                 hovertemplate="d_k %{x:.2f}: %{y:.4f} (%{customdata} samples)",
                                 line=dict(color=color(i), dash="dash" if m in ("uniform", "train_mean", "test_mean")
                                           else "solid")))
    fig.update_layout(title=f"Test {part} by the true dominant degree d_k", height=height, xaxis_title="d_k (bin centre)",
                      yaxis_title="nats", margin=dict(t=40, b=30), legend=dict(orientation="h", y=-0.25))
    return fig
