"""Imbalanced regression pieces: groups, symmetric descending soft labels, shot regions, LDS, data and
evaluation (the model itself: `ildl.methods.groupdir`).

Pu et al., "Leveraging Group Classification with Descending Soft Labeling for Deep Imbalanced
Regression" (Group-DIR). AAAI 2025 — spec §4. LDS: Yang et al., "Delving into Deep Imbalanced
Regression". ICML 2021. Evaluation is per shot on the natural test folds (no re-balancing): MAE and GM overall
and on many / medium / few-shot one-unit target bins, shot thresholds scaled to the data (`shot_thresholds`).
"""
from __future__ import annotations

import numpy as np
import torch

from .config import Param, resolve
from .data import DataError, Dataset, _finish, load

# AgeDB-DIR's shot thresholds are > 100 (many) and < 20 (few) training samples per one-year bin, with
# about 12.2k training images over ~101 ages (≈ 121 per bin). Small sets scale both by their own
# mean count per bin: many > 0.82·mean, few < 0.165·mean.
AGEDB_MEAN_PER_BIN = 12208 / 101
MANY_FRACTION = 100 / AGEDB_MEAN_PER_BIN
FEW_FRACTION = 20 / AGEDB_MEAN_PER_BIN


def group_edges(y_train: np.ndarray, n_groups: int) -> np.ndarray:
    """(G+1,) equal-width bin edges over the training target range."""
    if n_groups < 1:
        raise ValueError("need at least one group")
    lo, hi = float(np.min(y_train)), float(np.max(y_train))
    return np.linspace(lo, hi if hi > lo else lo + 1.0, n_groups + 1)


def group_of(y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """g(y): the bin index of each target (targets outside the training range go to the end bins)."""
    return np.clip(np.searchsorted(edges, y, side="right") - 1, 0, len(edges) - 2)


def soft_label_table(n_groups: int, beta: torch.Tensor) -> torch.Tensor:
    """Symmetric descending soft labels (Group-DIR, eqs. 5–6) for per-model β (M,): (M, G, G), row g is
    q(g)_i = softmax_i(|G| − β·|i − g|). The constant |G| cancels in the softmax; it mirrors the paper's l_i."""
    i = torch.arange(n_groups, dtype=beta.dtype, device=beta.device)
    return torch.softmax(n_groups - beta.view(-1, 1, 1) * (i[None, None, :] - i[None, :, None]).abs(), -1)


def soft_labels(groups: torch.Tensor, n_groups: int, beta: float = 1.0) -> torch.Tensor:
    """The soft labels of given groups (B,) → (B, G): rows of `soft_label_table` (what the method trains on)."""
    return soft_label_table(n_groups, torch.tensor([float(beta)], dtype=torch.float64))[0][groups.long()]


def la_view(n_groups: int, prior: np.ndarray, tau: float = 1.0, scale: float | None = None) -> np.ndarray:
    """(G, G) softmax(s·e_g + τ log π) per true group g: how a confident classifier's output looks to the
    logit-adjusted loss — the prior term tilts it to frequent groups, so rare groups need larger margins."""
    s = float(n_groups) if scale is None else scale
    z = s * np.eye(n_groups) + tau * np.log(np.maximum(prior, 1e-12))[None, :]
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def entropy(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, np.float64)
    return -(np.where(q > 0, q * np.log(np.maximum(q, 1e-300)), 0.0)).sum(-1)


def target_bins(*targets: np.ndarray) -> np.ndarray:
    """One-unit bin edges covering every given target array: floor(min) … floor(max) + 1, so the largest
    value has a bin of its own. The metric's shot regions and the Soft-labels page use these same bins."""
    lo = float(np.floor(min(np.min(t) for t in targets)))
    hi = float(np.floor(max(np.max(t) for t in targets)))
    return np.arange(lo, hi + 2)


def shot_thresholds(counts: np.ndarray) -> tuple[float, float]:
    """(many, few) sample-count thresholds scaled to the data (see the module constants)."""
    mean = float(np.mean(counts[counts > 0])) if (counts > 0).any() else 0.0
    return MANY_FRACTION * mean, FEW_FRACTION * mean


def shot_regions(counts: np.ndarray) -> np.ndarray:
    """Per target bin: 'many' (> many), 'few' (< few) or 'medium', by training count."""
    many, few = shot_thresholds(counts)
    return np.where(counts > many, "many", np.where(counts < few, "few", "medium"))


def lds_weights(y_train: np.ndarray, bins: np.ndarray, ks: int = 5, sigma: float = 2.0) -> np.ndarray:
    """LDS (Yang et al. 2021): per-sample weights 1/smoothed(√count), rescaled to mean 1.

    counts over `bins` (edges), square-root, convolved with a Gaussian kernel of size ks and σ, then each
    sample takes the inverse of its bin's smoothed value."""
    counts = np.histogram(y_train, bins=bins)[0].astype(np.float64)
    half = (ks - 1) // 2
    x = np.arange(-half, half + 1)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.max()  # the reference implementation normalises the peak to 1
    from scipy.ndimage import convolve1d

    smoothed = convolve1d(np.sqrt(counts), kernel, mode="constant")  # zeros beyond the range, as the reference
    b = np.clip(np.searchsorted(bins, y_train, side="right") - 1, 0, len(counts) - 1)
    w = 1.0 / np.maximum(smoothed[b], 1e-12)
    return w * len(w) / w.sum()


SYNTHETIC_DIR_PARAMS = (
    Param("n", "int", 1000, "number of samples", 100, 20000, 100),
    Param("d", "int", 16, "number of features", 2, 500, 1),
    Param("skew", "float", 4.0, "how skewed the targets are (gamma shape; smaller = longer tail)", 0.5, 20.0, 0.5),
    Param("noise", "float", 0.3, "feature noise σ", 0.0, 3.0, 0.05),
    Param("seed", "int", 0, "generator seed", 0, 1_000_000, 1),
)


def make_synthetic_dir(n: int = 1000, d: int = 16, skew: float = 4.0, noise: float = 0.3, seed: int = 0) -> Dataset:
    """A skewed regression set in [0, 100): targets ~ Gamma(shape=skew) rescaled (most mass young, a long
    tail), features a smooth random map of the target plus noise. `extras['age']` holds the target."""
    if n < 20:
        raise DataError("synthetic-dir: needs n ≥ 20")
    rng = np.random.default_rng(seed)
    t = rng.gamma(skew, 1.0, n)
    t = np.minimum(t / np.quantile(t, 0.999) * 90.0, 99.0)
    freqs = rng.uniform(0.5, 3.0, d)
    phases = rng.uniform(0, 2 * np.pi, d)
    X = np.sin(freqs[None, :] * t[:, None] / 30.0 + phases[None, :]) + noise * rng.standard_normal((n, d))
    # a one-hot-ish label distribution over 10-year bins keeps the dataset valid for the LDL pages too
    Y = np.exp(-0.5 * ((np.arange(10)[None, :] * 10 + 5 - t[:, None]) / 8.0) ** 2)
    Y /= Y.sum(1, keepdims=True)
    ds = _finish("synthetic-dir", X, Y, source="generated (ildl.regression.make_synthetic_dir)",
                 extras={"age": t}, label_names=[f"{10 * j}–{10 * j + 9}" for j in range(10)])
    return ds


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
