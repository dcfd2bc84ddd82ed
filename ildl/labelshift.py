"""Long-tailed classification under label shift — data and evaluation (the methods: `ildl.methods.longtail`).

Hong, Han, Choi, Lee, Park & Choi. "Disentangling Label Distribution for Long-tailed Visual Recognition"
(LADE, with PC softmax). CVPR 2021 — spec §5: train on a long-tailed set, evaluate on a balanced test set
and on shifted test priors (forward / backward long-tailed), accuracy overall and on many / medium / few
classes. Every method except plain CE predicts with the test prior when it is known.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .data import DataError
from .methods import REGISTRY
from .methods.longtail import adjust

# ImageNet-LT's shot split (many > 100, few < 20 training images) with a 1280-image head class, scaled to
# the data: many > 100/1280 · n_max, few < 20/1280 · n_max.
MANY_FRAC, FEW_FRAC = 100 / 1280, 20 / 1280


# --------------------------------------------------------------------------- data
@dataclass
class LTData:
    name: str
    X_train: np.ndarray  # (n, d) float32
    y_train: np.ndarray  # (n,) int
    X_pool: np.ndarray  # balanced test pool (m·C, d)
    y_pool: np.ndarray
    counts: np.ndarray  # (C,) training counts, class 0 the most frequent
    n_classes: int

    @property
    def prior(self) -> np.ndarray:
        return self.counts / self.counts.sum()

    def shots(self) -> np.ndarray:
        n_max = self.counts.max()
        return np.where(self.counts > MANY_FRAC * n_max, "many", np.where(self.counts < FEW_FRAC * n_max, "few",
                                                                          "medium"))


def lt_counts(n_max: int, C: int, imbalance: float) -> np.ndarray:
    """Exponential profile n_c = n_max · R^(−c/(C−1)), at least 1."""
    return np.maximum(1, np.floor(n_max * float(imbalance) ** (-np.arange(C) / (C - 1)))).astype(int)


def _make(name: str, X: np.ndarray, y: np.ndarray, imbalance: float, seed: int, test_per_class: int) -> LTData:
    if imbalance < 1:
        raise DataError("imbalance ratio must be ≥ 1")
    rng = np.random.default_rng(seed)
    C = int(y.max()) + 1
    order = rng.permutation(C)  # which real class plays head, which tail, varies with the seed
    X_tr, y_tr, X_te, y_te = [], [], [], []
    pools = [rng.permutation(np.nonzero(y == order[r])[0]) for r in range(C)]
    n_max = min(len(p) for p in pools) - test_per_class
    counts = lt_counts(n_max, C, imbalance)
    for r, p in enumerate(pools):
        X_te.append(X[p[:test_per_class]])
        y_te += [r] * test_per_class
        X_tr.append(X[p[test_per_class:test_per_class + counts[r]]])
        y_tr += [r] * counts[r]
    X_tr, X_te = np.concatenate(X_tr), np.concatenate(X_te)
    lo, span = X_tr.min(0), np.maximum(X_tr.max(0) - X_tr.min(0), 1e-8)
    return LTData(name, ((X_tr - lo) / span).astype(np.float32), np.array(y_tr), ((X_te - lo) / span).astype(np.float32),
                  np.array(y_te), counts, C)


def make_digits_lt(imbalance: float = 100.0, seed: int = 0, test_per_class: int = 30) -> LTData:
    """scikit-learn's bundled 8×8 digits (1797 images, no download), made long-tailed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _make("digits-lt", d.data.astype(np.float64), d.target, imbalance, seed, test_per_class)


def make_blobs_lt(imbalance: float = 100.0, seed: int = 0, n_classes: int = 10, d: int = 20, spread: float = 2.5,
                  test_per_class: int = 60) -> LTData:
    """Overlapping Gaussian blobs, made long-tailed (the synthetic-lt set)."""
    rng = np.random.default_rng(1000 + seed)
    centres = rng.standard_normal((n_classes, d)) * spread
    per = 400
    X = np.concatenate([c + rng.standard_normal((per, d)) * 1.5 for c in centres])
    y = np.repeat(np.arange(n_classes), per)
    return _make("synthetic-lt", X, y, imbalance, seed, test_per_class)


def load_lt(name: str, imbalance: float, seed: int) -> LTData:
    if name == "digits-lt":
        return make_digits_lt(imbalance, seed)
    if name == "synthetic-lt":
        return make_blobs_lt(imbalance, seed)
    raise DataError(f"unknown long-tailed dataset '{name}' (digits-lt, synthetic-lt)")


def test_prior(spec: str | Sequence[float], C: int | None) -> np.ndarray | None:
    """'uniform', 'forwardR' (long-tailed like training, ratio R), 'backwardR' (reversed), or C numbers.
    With C None only the spelling is checked (the run's data, hence C, is not loaded yet): returns None."""
    if C is None:
        if isinstance(spec, str) and (spec == "uniform" or spec.startswith(("forward", "backward"))):
            test_prior(spec, 2)
            return None
        n = len(spec.split(",")) if isinstance(spec, str) else len(np.atleast_1d(np.asarray(spec)))
        if n < 2:
            raise DataError(f"test prior '{spec}': uniform, forwardR, backwardR or one number per class")
        test_prior(spec, n)
        return None
    if not isinstance(spec, str):
        p = np.asarray(spec, np.float64)
    elif spec == "uniform":
        p = np.ones(C)
    elif spec.startswith(("forward", "backward")):
        try:
            R = float(spec.removeprefix("forward").removeprefix("backward"))
        except ValueError:
            raise DataError(f"test prior '{spec}': expected e.g. forward50 or backward50") from None
        p = R ** (-np.arange(C) / (C - 1))
        if not (np.isfinite(R) and R >= 1):
            raise DataError(f"test prior '{spec}': the ratio R must be a finite number ≥ 1")
        p = p[::-1] if spec.startswith("backward") else p
    else:
        try:
            p = np.array([float(v) for v in spec.split(",")])
        except ValueError:
            raise DataError(f"test prior '{spec}': uniform, forwardR, backwardR or {C} comma-separated numbers") \
                from None
    if p.shape != (C,) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise DataError(f"a test prior needs {C} non-negative numbers with a positive sum")
    return p / p.sum()


def shifted_test_set(data: LTData, p_t: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices into the balanced pool giving a test set whose class shares follow p_t (largest class = pool)."""
    m = np.bincount(data.y_pool, minlength=data.n_classes).min()
    n = np.maximum(np.round(m * p_t / p_t.max()).astype(int), 0)
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(np.nonzero(data.y_pool == c)[0])[:n[c]] for c in range(data.n_classes)])


def prediction_rule(method: str) -> str:
    """The prediction rule (`ildl.methods.longtail.adjust` kind) of a registry method name: 'lade' → 'lade'."""
    return REGISTRY[method].preset["kind"]


def shifted_prior(imbalance: float, shift: float, C: int) -> np.ndarray:
    """The test prior a shift s ∈ [−1, 1] gives: p_t(c) ∝ R^(−s·c/(C−1)) — +1 long-tailed like training (ratio
    R), 0 uniform, −1 the reverse."""
    p = float(imbalance) ** (-float(shift) * np.arange(C) / (C - 1))
    return p / p.sum()


def accuracy(kind: str, logits: np.ndarray, y: np.ndarray, data: LTData, p_t: np.ndarray) -> dict[str, float]:
    """Overall and many / medium / few-shot accuracy of predictions made with p_t (`kind`: the prediction
    rule of `ildl.methods.longtail.adjust`)."""
    pred = adjust(kind, logits, data.prior, p_t).argmax(1)
    ok = pred == y
    shots = data.shots()[y]
    out = {"acc": float(ok.mean())}
    for s in ("many", "medium", "few"):
        out[f"acc_{s}"] = float(ok[shots == s].mean()) if (shots == s).any() else float("nan")
    return out


def accuracy_under_prior(kind: str, logits_pool: np.ndarray, data: LTData, p_t: np.ndarray) -> float:
    """Expected accuracy on a test set with class prior p_t: Σ_c p_t(c)·recall_c, recall measured on the
    balanced pool with predictions that use p_t (no resampling noise)."""
    pred = adjust(kind, logits_pool, data.prior, p_t).argmax(1)
    recall = np.array([(pred[data.y_pool == c] == c).mean() for c in range(data.n_classes)])
    return float((p_t * recall).sum())


