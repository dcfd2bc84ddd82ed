"""Imbalanced-regression data and evaluation for Group-DIR (the model itself: `ildl.methods.groupdir`).

Pu et al. "Leveraging Group Classification with Descending Soft Labeling for Deep Imbalanced
Regression". AAAI 2025 — spec §4. Evaluation is per shot on the natural test folds (no re-balancing):
MAE and GM overall and on many / medium / few-shot one-unit target bins, shot thresholds scaled to the data
(`ildl.regression.shot_thresholds`).
"""
from __future__ import annotations

import numpy as np

from .config import resolve
from .data import DataError, Dataset, load
from .regression import SYNTHETIC_DIR_PARAMS, make_synthetic_dir, shot_regions, target_bins


def targets_of(ds: Dataset) -> np.ndarray:
    for key in ("age", "target"):
        if key in ds.extras:
            return ds.extras[key].astype(np.float64)
    raise DataError(f"{ds.name}: imbalanced regression needs a target array 'age' or 'target' in the file")


def dir_metrics(y: np.ndarray, pred: np.ndarray, train_y: np.ndarray) -> dict[str, float]:
    """MAE and GM (geometric mean of |error|) overall and per shot region of the one-unit target bins."""
    err = np.abs(pred - y)
    out = {"mae": float(err.mean()), "gm": float(np.exp(np.log(np.maximum(err, 1e-8)).mean()))}
    bins = target_bins(train_y, y)
    counts = np.histogram(train_y, bins=bins)[0]
    regions = shot_regions(counts)
    region_of = regions[np.clip(np.searchsorted(bins, y, side="right") - 1, 0, len(counts) - 1)]
    for r in ("many", "medium", "few"):
        e = err[region_of == r]
        out[f"mae_{r}"] = float(e.mean()) if len(e) else float("nan")
        out[f"gm_{r}"] = float(np.exp(np.log(np.maximum(e, 1e-8)).mean())) if len(e) else float("nan")
    return out


def load_dir(name: str, **kw) -> Dataset:
    """FG-Net (bundled, `age`), `synthetic-dir` (the skewed generator) or any file with an `age`/`target` array."""
    if name == "synthetic-dir":
        return make_synthetic_dir(**resolve(SYNTHETIC_DIR_PARAMS, kw))
    ds = load(name)
    targets_of(ds)
    return ds
