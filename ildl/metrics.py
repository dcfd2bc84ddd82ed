"""The LDL metrics of spec §1 (per sample, then averaged), the error decomposition of spec §3b and the constant
predictors.

pos(v) = max(v, 1e-14). ↓ lower is better, ↑ higher is better.

Decomposition (spec §3b), per test sample with k = argmax y the *true* dominant label and d_k its degree:
  kl_dominant     KL([d_k, 1 − d_k] ‖ [p_k, s])          s = Σ_{j≠k} p_j   (the dominant degree)
  kl_nondominant  (1 − d_k)·KL(D̂ ‖ p̂)                    D̂ = y/(1 − d_k), p̂ = p/s off k   (the non-dominant shape)
  dominant_acc    [argmax p = k]                                               (is the dominant label right)
  prior_gap       KL(ȳ ‖ p̄), means over the fold's test samples                 (the label prior; one value a fold)
Both KL terms use pos(p), the clamp of `kl`, and s = Σ_{j≠k} pos(p_j) rather than 1 − p_k, so that
kl = kl_dominant + kl_nondominant holds for any positive p, normalised or not (expand the logs: the
(1 − d_k)·log(1 − d_k) and (1 − d_k)·log s terms cancel).
"""
from __future__ import annotations

import numpy as np

TINY = 1e-14
DIAGNOSTICS = ("kl_dominant", "kl_nondominant", "dominant_acc", "prior_gap")
METRICS = ("chebyshev", "clark", "canberra", "kl", "cosine", "intersection",
           "euclidean", "euclidean_tail", "euclidean_head", *DIAGNOSTICS)
LOWER_IS_BETTER = {m: m not in ("cosine", "intersection", "dominant_acc") for m in METRICS}
# where an error comes from (the words the verdicts and pages use for the three parts of the test KL)
SOURCES = {"kl_dominant": "the dominant degree", "kl_nondominant": "the non-dominant shape",
           "prior_gap": "the label prior"}
SIX = METRICS[:6]
CONSTANT_PREDICTORS = ("uniform", "train_mean", "test_mean")


def _pos(v):
    return np.maximum(v, TINY)


def per_sample(y: np.ndarray, p: np.ndarray, head: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every metric per sample (n,). y, p (n, C); head (C,) bool selects the head-label columns."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    if p.ndim == 1:
        p = np.broadcast_to(p, y.shape)
    diff = y - p
    out = {
        "chebyshev": np.abs(diff).max(1),
        "clark": np.sqrt((diff**2 / _pos((y + p) ** 2)).sum(1)),
        "canberra": (np.abs(diff) / _pos(y + p)).sum(1),
        "kl": kl_rows(y, p),
        "cosine": (y * p).sum(1) / (_pos(np.linalg.norm(y, axis=1)) * _pos(np.linalg.norm(p, axis=1))),
        "intersection": np.minimum(y, p).sum(1),
        "euclidean": np.sqrt((diff**2).sum(1)),
    }
    head = np.zeros(y.shape[1], bool) if head is None else np.asarray(head, bool)
    out["euclidean_head"] = np.sqrt((diff[:, head] ** 2).sum(1))
    out["euclidean_tail"] = np.sqrt((diff[:, ~head] ** 2).sum(1))
    out.update(decomposition(y, p))
    return {m: out[m] for m in METRICS}


def kl_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """KL(y_i ‖ p_i) per row (n,), with the spec's clamps; y, p (n, C) float64."""
    return np.where(y > 0, y * np.log(_pos(y / _pos(p))), 0.0).sum(1)


def decomposition(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """The four diagnostic columns per sample (n,) (prior_gap repeated: it is one number for the whole set).
    y, p (n, C) float64."""
    n, C = y.shape
    rows = np.arange(n)
    k = y.argmax(1)
    off = np.ones((n, C), bool)
    off[rows, k] = False
    q = _pos(p)
    dk, pk = y[rows, k], q[rows, k]
    s = np.where(off, q, 0.0).sum(1)  # (n,) Σ_{j≠k} pos(p_j)
    rest = 1.0 - dk
    dom = np.where(dk > 0, dk * np.log(_pos(dk / pk)), 0.0) + np.where(rest > 0, rest * np.log(_pos(rest / s)), 0.0)
    # (1 − d_k)·KL(D̂‖p̂) = Σ_{j≠k} y_j·log((y_j / (1 − d_k)) / (p_j / s)), written so that (1 − d_k) → 0 stays finite
    ratio = y * s[:, None] / (_pos(rest)[:, None] * q)
    nondom = np.where(off & (y > 0), y * np.log(_pos(ratio)), 0.0).sum(1)
    ybar, pbar = y.mean(0), _pos(p.mean(0))
    gap = float(np.where(ybar > 0, ybar * np.log(_pos(ybar / pbar)), 0.0).sum())
    return {"kl_dominant": dom, "kl_nondominant": nondom, "dominant_acc": (p.argmax(1) == k).astype(np.float64),
            "prior_gap": np.full(n, gap)}


DK_BINS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def by_dominant_degree(y: np.ndarray, p: np.ndarray, bins: tuple[float, ...] = DK_BINS) -> list[dict[str, float]]:
    """Mean kl, kl_dominant and kl_nondominant of the test samples in each d_k bin [lo, hi) (the last bin
    closed): where along the dominant degree a predictor's error lies. Empty bins are left out."""
    y = np.asarray(y, np.float64)
    per = per_sample(y, np.asarray(p, np.float64))
    dk = y.max(1)
    out = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        sel = (dk >= lo) & ((dk < hi) if i < len(bins) - 2 else (dk <= hi))
        if sel.any():
            out.append(dict(lo=lo, hi=hi, n=int(sel.sum()),
                            **{m: float(per[m][sel].mean()) for m in ("kl", "kl_dominant", "kl_nondominant")}))
    return out


def evaluate(y: np.ndarray, p: np.ndarray, head: np.ndarray | None = None) -> dict[str, float]:
    """Mean of every metric over samples."""
    return {m: float(v.mean()) for m, v in per_sample(y, p, head).items()}


def constant_prediction(name: str, y_train: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """The (C,) constant distribution of a constant predictor.

    uniform: 1/C · train_mean: mean of the kept training distributions · test_mean: mean of the
    test fold (an *oracle*: it peeks at the test labels, shown only as a reference).
    """
    C = y_test.shape[1]
    if name == "uniform":
        return np.full(C, 1.0 / C)
    if name == "train_mean":
        return np.asarray(y_train, np.float64).mean(0)
    if name == "test_mean":
        return np.asarray(y_test, np.float64).mean(0)
    raise ValueError(f"unknown constant predictor '{name}'")
