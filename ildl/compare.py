"""Runs side by side: what a run is in one line, what differs between runs, one stable colour per run, and the
numbers the Compare page draws (per-label errors, the six metrics relative to the uniform predictor)."""
from __future__ import annotations

import hashlib
import time
from typing import Any, Sequence

import numpy as np

from .methods import REGISTRY, parse
from .metrics import LOWER_IS_BETTER, SIX, by_dominant_degree
from .tasks import DEFAULT, TASKS
from .viz import PALETTE

HEADLINE = ("epochs", "lr", "batch_size", "hidden")  # shown in a run's line even when they are defaults


def trained_method(cfg: dict[str, Any]) -> str:
    """The trained method a run is about (its last non-constant method; a study's name otherwise)."""
    if cfg.get("study"):
        return str(cfg["study"])
    names = [m for m in cfg.get("methods") or [] if not parse(m).constant] if cfg.get("methods") else []
    return names[-1] if names else (cfg.get("methods") or ["?"])[-1]


def changed_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The trained method's parameters that differ from its declared defaults (what a reader needs to know)."""
    name = trained_method(cfg)
    try:
        entry = REGISTRY[parse(name).base]
    except (ValueError, KeyError):
        return {}
    given = (cfg.get("settings") or {}).get(name, {})
    return {p.name: given[p.name] for p in entry.schema() if p.name in given and given[p.name] != p.default}


def describe(cfg: dict[str, Any], run_id: str | None = None) -> str:
    """'amema+pc on Movie (ildl) · folds 0, 1 · rule val_kl_balanced · epochs=600, weig=False'."""
    task = TASKS.get(cfg.get("task") or DEFAULT)
    parts = [f"**{trained_method(cfg)}** on {cfg.get('dataset')}"
             + (f" ({cfg['protocol']})" if cfg.get("protocol") and task is not None and len(task.protocols) > 1
                else "")]
    if cfg.get("fold_ids") is not None:
        parts.append("folds " + ", ".join(map(str, cfg["fold_ids"])))
    if task is not None and task.several_rules and cfg.get("select"):
        parts.append("rule " + "/".join(cfg["select"]))
    ch = changed_settings(cfg)
    parts.append(", ".join(f"{k}={v}" for k, v in ch.items()) if ch else "default settings")
    if cfg.get("seed"):
        parts.append(f"seed {cfg['seed']}")
    if cfg.get("pace"):
        parts.append(f"pace {cfg['pace']:g} s/epoch")
    return (f"`{run_id}` — " if run_id else "") + " · ".join(parts)


def _flat(cfg: dict[str, Any]) -> dict[str, Any]:
    name = trained_method(cfg)
    out = {"method": name, "dataset": cfg.get("dataset"), "seed": cfg.get("seed"),
           "folds": tuple(cfg.get("fold_ids") or ()), "rule": tuple(cfg.get("select") or ())}
    out.update((cfg.get("settings") or {}).get(name, {}))
    return out


MAX_LABEL = 40


def labels(configs: dict[str, dict[str, Any]], max_len: int = MAX_LABEL) -> dict[str, str]:
    """A short label per run: the method, then only the settings that differ among the shown runs *of that
    method* ('amema · weig=False' beside 'amema · weig=True'; a lone 'rda' stays 'rda'), never a None value, at
    most `max_len` characters (what does not fit is counted: '… +2'); identical configurations get their ids."""
    flats = {rid: _flat(c) for rid, c in configs.items()}
    by_method: dict[str, list[str]] = {}
    for rid, f in flats.items():
        by_method.setdefault(str(f["method"]), []).append(rid)
    out = {}
    for method, rids in by_method.items():
        keys = sorted({k for r in rids for k in flats[r]} - {"method"})
        differing = [k for k in keys if len({repr(flats[r].get(k)) for r in rids}) > 1]
        for rid in rids:
            bits = [f"{k}={_short(flats[rid].get(k))}" for k in differing if flats[rid].get(k) is not None]
            out[rid] = _fit(method, bits, max_len)
    seen: dict[str, int] = {}
    for rid in out:  # still equal (same configuration twice): tell them apart by id
        seen[out[rid]] = seen.get(out[rid], 0) + 1
    return {rid: (lab if seen[lab] == 1 else _fit(lab, [rid[-6:]], max_len + 7)) for rid, lab in out.items()}


def _fit(head: str, bits: list[str], max_len: int) -> str:
    text = head
    for i, b in enumerate(bits):
        more = f" … +{len(bits) - i}"
        if len(text) + 3 + len(b) + (len(more) if i < len(bits) - 1 else 0) > max_len:
            return text + more
        text += " · " + b
    return text


def folds_of(rows: Sequence[dict[str, Any]], method: str) -> set[int]:
    """The folds a run finished for its trained method."""
    return {int(r["fold"]) for r in rows if r.get("method") == method}


def _short(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(map(str, v)) or "-"
    return f"{v:g}" if isinstance(v, float) else str(v)


def colors(run_ids: Sequence[str]) -> dict[str, str]:
    """One colour per run, stable (a run's colour follows its id) and distinct among the runs shown: each run
    prefers the palette slot its id hashes to; a clash moves the later id (in id order) to the next free slot."""
    out, taken = {}, set()
    n = len(PALETTE)
    for rid in sorted(run_ids):
        slot = int(hashlib.md5(rid.encode()).hexdigest(), 16) % n
        for k in range(n):
            if (slot + k) % n not in taken or len(taken) >= n:
                slot = (slot + k) % n
                break
        taken.add(slot)
        out[rid] = PALETTE[slot]
    return out


def per_label_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mean |y − p| per label over samples: y, p (n, C) → (C,)."""
    return np.abs(np.asarray(y, np.float64) - np.asarray(p, np.float64)).mean(0)


def relative_to(means: dict[str, dict[str, float]], reference: str = "uniform",
                metrics: Sequence[str] = SIX) -> dict[str, dict[str, float]]:
    """Each run's metrics relative to the reference's, oriented so that > 1 is better (radar axes)."""
    if reference not in means:
        return {}
    u = means[reference]
    return {name: {m: (u[m] / v[m] if LOWER_IS_BETTER[m] else v[m] / u[m]) for m in metrics}
            for name, v in means.items()}


def dk_profile(preds: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]], Y: np.ndarray):
    """Per (method, d_k bin): the test kl and its two parts, pooled over a run's saved test predictions
    ((method, fold) → (test indices, predictions), `RunStore.predictions`) against the dataset's Y (n, C)."""
    import pandas as pd

    rows = []
    for m in dict.fromkeys(k[0] for k in preds):
        parts = [(idx, p) for (mm, _), (idx, p) in preds.items() if mm == m and p.ndim == 2 and p.shape[1] == Y.shape[1]]
        if not parts or any(int(idx.max(initial=-1)) >= len(Y) for idx, _ in parts):
            continue
        idx = np.concatenate([i for i, _ in parts])
        p = np.concatenate([q for _, q in parts]).astype(np.float64)
        rows += [dict(method=m, **b) for b in by_dominant_degree(Y[idx], p)]
    return pd.DataFrame(rows)


def run_titles(runs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """'amema · weig=False · 12-01 21:34 · folds 0–2' per run of `RunStore.list()` rows (with their config): the
    label by difference among the runs listed, the date it was made and its folds."""
    ok = {r["id"]: r["config"] for r in runs if not r.get("damaged") and isinstance(r.get("config"), dict)}
    lab = labels(ok) if ok else {}
    out = {}
    for r in runs:
        cfg = ok.get(r["id"])
        if cfg is None:
            out[r["id"]] = f"damaged · {r.get('damaged') or ''}"
            continue
        created = r.get("created")
        when = time.strftime("%m-%d %H:%M", time.localtime(created)) if isinstance(created, (int, float)) else ""
        ids = cfg.get("fold_ids") or list(range(int(cfg.get("folds") or 0)))
        span = (f"{ids[0]}–{ids[-1]}" if ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 2
                else ",".join(map(str, ids))) if ids else "-"
        out[r["id"]] = " · ".join(x for x in (lab.get(r["id"], "?"), when, f"fold{'s' if len(ids) != 1 else ''} {span}")
                                  if x)
    return out
