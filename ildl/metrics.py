"""The LDL metrics of spec §1 (per sample, then averaged) and the constant predictors.

pos(v) = max(v, 1e-14). ↓ lower is better, ↑ higher is better.
"""
from __future__ import annotations

import numpy as np

TINY = 1e-14
METRICS = ("chebyshev", "clark", "canberra", "kl", "cosine", "intersection",
           "euclidean", "euclidean_tail", "euclidean_head")
LOWER_IS_BETTER = {m: m not in ("cosine", "intersection") for m in METRICS}
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
        "kl": np.where(y > 0, y * np.log(_pos(y / _pos(p))), 0.0).sum(1),
        "cosine": (y * p).sum(1) / (_pos(np.linalg.norm(y, axis=1)) * _pos(np.linalg.norm(p, axis=1))),
        "intersection": np.minimum(y, p).sum(1),
        "euclidean": np.sqrt((diff**2).sum(1)),
    }
    head = np.zeros(y.shape[1], bool) if head is None else np.asarray(head, bool)
    out["euclidean_head"] = np.sqrt((diff[:, head] ** 2).sum(1))
    out["euclidean_tail"] = np.sqrt((diff[:, ~head] ** 2).sum(1))
    return {m: out[m] for m in METRICS}


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
