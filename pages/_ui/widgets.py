"""Widgets: URL-backed controls (a link restores the exact view), declared parameters as widgets (one rule),
chart export settings, and the error display every page wraps its work in."""
from __future__ import annotations

import traceback
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import streamlit as st

from ildl import data as D
from ildl.config import Param


def _refill(key: str, default: Any) -> None:
    """on_change of a seeded control: an emptied number box goes back to its default; an emptied choice (Esc or
    ⊗ in a select) keeps the value it had, so no control ever reads None."""
    ss = st.session_state
    if ss.get(key) is None:
        ss[key] = ss.get(f"_last_{key}", default)


def control(kind: str, label: str, key: str, default: Any, *, container=None, cast=None, url: bool = True,
            **kw: Any) -> Any:
    """A widget whose value lives in the URL as ?<key>=…, so a link restores the exact view. On the session's
    first run the URL's value (cast and checked by the widget's own options / range) seeds the widget; a value
    that does not fit is ignored with a message. Non-default values are written back; defaults are left out.
    kind: slider | number | select | radio | select_slider | toggle | text | multiselect."""
    container = container or st
    ss, qp = st.session_state, st.query_params
    cast = cast or (type(default) if default is not None and not isinstance(default, (list, tuple)) else str)
    if url and key not in ss and key in qp:
        try:
            raw = qp.get_all(key) if kind == "multiselect" else qp[key]
            v = [cast(x) for x in raw] if kind == "multiselect" else (
                str(raw).lower() in ("1", "true", "yes") if kind == "toggle" else cast(raw))
            if isinstance(v, float) and not np.isfinite(v):
                raise ValueError
            opts = kw.get("options")
            if opts is not None and (any(x not in opts for x in v) if kind == "multiselect" else v not in opts):
                raise ValueError
            lo, hi = kw.get("min_value"), kw.get("max_value")
            if kind in ("slider", "number") and ((lo is not None and v < lo) or (hi is not None and v > hi)):
                raise ValueError
            ss[key] = v
        except (ValueError, TypeError):
            st.warning(f"Ignoring {key}={qp.get(key)!r} from the URL: not a valid value.")
    seeded = key in ss
    if kind not in ("multiselect", "toggle") and "on_change" not in kw:
        # seeded widgets are drawn with value=None (the session holds the value), which lets a reader clear them
        # (the ⊗ in a number box, Esc in a select); `_refill` puts a value back instead of None
        kw.update(on_change=_refill, args=(key, default))
    if kind == "slider":
        v = container.slider(label, value=None if seeded else default, key=key, **kw)
    elif kind == "number":
        v = container.number_input(label, value=None if seeded else default, key=key, **kw)
    elif kind == "select":
        opts = list(kw.pop("options"))
        v = container.selectbox(label, opts, index=None if seeded else opts.index(default), key=key, **kw)
    elif kind == "radio":
        opts = list(kw.pop("options"))
        v = container.radio(label, opts, index=None if seeded else opts.index(default), key=key, **kw)
    elif kind == "select_slider":
        v = container.select_slider(label, value=None if seeded else default, key=key, **kw)
    elif kind == "toggle":
        v = container.toggle(label, value=False if seeded else bool(default), key=key, **kw)
    elif kind == "multiselect":
        opts = list(kw.pop("options"))
        v = container.multiselect(label, opts, default=None if seeded else list(default), key=key, **kw)
    else:
        v = container.text_input(label, value=None if seeded else default, key=key, **kw)
    if v is None and kind not in ("multiselect", "toggle"):
        v = ss.get(f"_last_{key}", default) if kind in ("select", "radio") else default
    if kind in ("select", "radio"):
        ss[f"_last_{key}"] = v  # what Esc / ⊗ restores
    if url:
        if (list(v) if kind == "multiselect" else v) == (list(default) if kind == "multiselect" else default):
            if key in qp:
                del qp[key]
        elif kind == "multiselect":
            qp[key] = [str(x) for x in v]
        elif qp.get(key) != str(v):
            qp[key] = str(v)
    return v


# --------------------------------------------------------------------------- charts
EXPORTS = {"SVG": dict(format="svg", scale=1), "PNG, print (4×)": dict(format="png", scale=4)}


def export_config(name: str = "") -> dict[str, Any]:
    """Plotly's config for every chart: its camera button downloads in the reader's chosen format (sidebar)."""
    fmt = EXPORTS.get(st.session_state.get("app", {}).get("export", ""), EXPORTS["SVG"])
    return {"displaylogo": False, "toImageButtonOptions": {**fmt, "filename": name or "ildl-figure"}}


def plot(container, fig, key: str | None = None, **kw: Any) -> None:
    """st.plotly_chart with the export settings (SVG or print-resolution PNG from the chart's camera button)."""
    container.plotly_chart(fig, key=key, config=export_config(key or ""), **kw)


# --------------------------------------------------------------------------- widgets
def _param_spec(p: Param) -> tuple[str, Any, dict[str, Any]]:
    """The one rule from a declared parameter to a widget: (kind, cast, keyword arguments). A bounded number
    with at most 400 steps is a slider, any other number a number box; a choice a select; a bool a toggle."""
    if p.kind == "bool":
        return "toggle", bool, {}
    if p.kind == "choice":
        return "select", type(p.default), dict(options=list(p.choices))
    lo, hi, cast = p.min, p.max, (int if p.kind == "int" else float)
    bounds = dict(min_value=cast(lo) if lo is not None else None, max_value=cast(hi) if hi is not None else None)
    if lo is not None and hi is not None and p.step and not p.log and (hi - lo) / p.step <= 400:
        return "slider", cast, dict(step=cast(p.step), **bounds)
    return "number", cast, dict(**bounds, **(dict(step=int(p.step or 1)) if cast is int else dict(format="%.4g")))


def param_control(p: Param, key: str, container=None, value: Any = None, url: bool = True) -> Any:
    """A declared parameter as a control (`control`), starting at `value` (default: its declared default); with
    `url` the query string keeps it (?<key>=<value>). Returns the value, cast to the declared type."""
    kind, cast, kw = _param_spec(p)
    start = cast(p.default if value is None else value)
    return cast(control(kind, p.name, key, start, container=container, cast=cast, url=url, help=p.help, **kw))


def param_widget(p: Param, value: Any, key: str, container=None) -> Any:
    """A declared parameter's widget starting at `value`, not in the URL (the caller keeps its values)."""
    return param_control(p, key, container=container, value=value, url=False)


@contextmanager
def friendly_errors(what: str = "") -> Iterator[None]:
    """Show bad input or a failed computation as a message; the page stays usable (no stack trace)."""
    try:
        yield
    except D.DataError as e:
        st.error(str(e))
    except ValueError as e:
        st.error(f"{what + ': ' if what else ''}{e}")
    except Exception as e:  # noqa: BLE001 — a page must never show a traceback
        st.error(f"{what + ' failed' if what else 'Something went wrong'}: {type(e).__name__}: {e}")
        print(traceback.format_exc())


