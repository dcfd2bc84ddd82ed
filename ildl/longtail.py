"""Long-tailed classification under label shift: CE, PC softmax, logit adjustment, balanced softmax, LADE.

Hong, Han, Choi, Lee, Park & Choi. "Disentangling Label Distribution for Long-tailed Visual Recognition"
(LADE, with PC softmax). CVPR 2021 — spec §5. Logit adjustment: Menon et al., ICLR 2021. Balanced
softmax: Ren et al., NeurIPS 2020.

p_s = training class prior, p_t = test prior. Every method except plain CE predicts with the test prior
when it is known: argmax_y f_y(x) + log p_t(y) (− log p_s(y) for PC, whose f still carries p_s).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .config import Param, resolve
from .data import DataError
from .nets import mlp
from .trainer import shuffled_epochs

METHODS = ("ce", "pc", "la", "balanced-softmax", "lade")
PARAMS = (
    Param("epochs", "int", 60, "passes over the long-tailed training set", 1, 2000, 1),
    Param("batch_size", "int", 64, "mini-batch size", 2, 4096, 1),
    Param("lr", "float", 1e-3, "Adam learning rate", 1e-5, 1.0, log=True),
    Param("hidden", "int", 128, "hidden width", 4, 2048, 1),
    Param("tau", "float", 1.0, "τ of the logit-adjusted loss CE(f + τ log p_s)", 0.0, 5.0),
    Param("alpha", "float", 0.1, "α: weight of LADE's regulariser", 0.0, 10.0),
    Param("lam", "float", 0.1, "λ: LADE's second-order term", 0.0, 10.0),
    Param("mask_absent", "bool", True, "LADE: leave classes absent from the batch out of the regulariser (spec §5); "
          "off = the reference code, which keeps them (their first term is 0)"),
)
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


def test_prior(spec: str | Sequence[float], C: int) -> np.ndarray:
    """'uniform', 'forwardR' (long-tailed like training, ratio R), 'backwardR' (reversed), or C numbers."""
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
        p = p[::-1] if spec.startswith("backward") else p
    else:
        try:
            p = np.array([float(v) for v in spec.split(",")])
        except ValueError:
            raise DataError(f"test prior '{spec}': uniform, forwardR, backwardR or {C} comma-separated numbers") \
                from None
    if p.shape != (C,) or (p < 0).any() or p.sum() <= 0:
        raise DataError(f"a test prior needs {C} non-negative numbers with a positive sum")
    return p / p.sum()


def shifted_test_set(data: LTData, p_t: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices into the balanced pool giving a test set whose class shares follow p_t (largest class = pool)."""
    m = np.bincount(data.y_pool, minlength=data.n_classes).min()
    n = np.maximum(np.round(m * p_t / p_t.max()).astype(int), 0)
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(np.nonzero(data.y_pool == c)[0])[:n[c]] for c in range(data.n_classes)])


# --------------------------------------------------------------------------- losses
def lade_regulariser(logits: torch.Tensor, y: torch.Tensor, prior: torch.Tensor, lam: float = 0.1,
                     mask_absent: bool = True) -> torch.Tensor:
    """L_LADE = −Σ_c p_s(c)·est_c over classes present in the batch (LADE eq. 13, spec §5; with
    `mask_absent` off, over every class as the reference code does), where
    est_c = mean_{i: y_i = c} f_c(x_i) − second_c − λ·second_c²,
    second_c = logsumexp_i(f_c(x_i) − log p_s(c) − log C) − log N.   logits (N, C), y (N,), prior (C,)."""
    N, C = logits.shape
    onehot = F.one_hot(y, C).float()  # (N, C)
    n_c = onehot.sum(0)  # (C,)
    first = (logits * onehot).sum(0) / n_c.clamp_min(1)
    second = torch.logsumexp(logits - torch.log(prior)[None, :] - np.log(C), dim=0) - np.log(N)
    est = first - second - lam * second**2
    present = (n_c > 0).float() if mask_absent else torch.ones_like(n_c)
    return -(est * prior * present).sum()


def loss(method: str, logits: torch.Tensor, y: torch.Tensor, log_prior: torch.Tensor, cfg: dict) -> torch.Tensor:
    if method in ("ce", "pc"):
        return F.cross_entropy(logits, y)
    if method == "la":
        return F.cross_entropy(logits + cfg["tau"] * log_prior, y)
    if method == "balanced-softmax":  # CE(f + log n_y): log n_c = log p_s(c) + const, the constant cancels
        return F.cross_entropy(logits + log_prior, y)
    if method == "lade":
        return F.cross_entropy(logits + log_prior, y) + cfg["alpha"] * lade_regulariser(
            logits, y, log_prior.exp(), cfg["lam"], cfg.get("mask_absent", True))
    raise ValueError(f"unknown long-tailed method '{method}' ({', '.join(METHODS)})")


def adjust(method: str, logits: np.ndarray, p_s: np.ndarray, p_t: np.ndarray) -> np.ndarray:
    """Prediction scores: CE as is; PC adds log p_t − log p_s; LA / BS / LADE add log p_t."""
    lt = np.log(np.maximum(p_t, 1e-12))
    if method == "ce":
        return logits
    if method == "pc":
        return logits + lt - np.log(np.maximum(p_s, 1e-12))
    return logits + lt


# --------------------------------------------------------------------------- training and evaluation
def train(method: str, data: LTData, cfg: dict[str, Any] | None = None, *, seed: int = 0, device: str = "cpu",
          emit: Callable[[dict], None] = lambda e: None, stop: threading.Event | None = None) -> torch.nn.Module:
    cfg = resolve(PARAMS, cfg)
    torch.manual_seed(seed)
    net = mlp(data.X_train.shape[1], cfg["hidden"], data.n_classes).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    X = torch.as_tensor(data.X_train, device=device)
    Y = torch.as_tensor(data.y_train, device=device)
    log_prior = torch.log(torch.as_tensor(data.prior, dtype=torch.float32, device=device))
    step = 0
    for epoch, batches in shuffled_epochs(len(X), cfg["batch_size"], cfg["epochs"], seed, device):
        for idx in batches:
            if stop is not None and stop.is_set():
                return net
            L = loss(method, net(X[idx]), Y[idx], log_prior, cfg)
            opt.zero_grad(set_to_none=True)
            L.backward()
            opt.step()
            step += 1
            emit(dict(type="step", method=method, seed=seed, epoch=epoch, step=step, loss=float(L.detach())))
        emit(dict(type="epoch", method=method, seed=seed, epoch=epoch, step=step))
    return net


@torch.no_grad()
def logits_of(net: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    net.eval()
    p = next(net.parameters())
    return net(torch.as_tensor(X, device=p.device)).cpu().numpy().astype(np.float64)


def accuracy(method: str, logits: np.ndarray, y: np.ndarray, data: LTData, p_t: np.ndarray) -> dict[str, float]:
    """Overall and many / medium / few-shot accuracy of predictions made with p_t."""
    pred = adjust(method, logits, data.prior, p_t).argmax(1)
    ok = pred == y
    shots = data.shots()[y]
    out = {"acc": float(ok.mean())}
    for s in ("many", "medium", "few"):
        out[f"acc_{s}"] = float(ok[shots == s].mean()) if (shots == s).any() else float("nan")
    return out


def accuracy_under_prior(method: str, logits_pool: np.ndarray, data: LTData, p_t: np.ndarray) -> float:
    """Expected accuracy on a test set with class prior p_t: Σ_c p_t(c)·recall_c, recall measured on the
    balanced pool with predictions that use p_t (no resampling noise)."""
    pred = adjust(method, logits_pool, data.prior, p_t).argmax(1)
    recall = np.array([(pred[data.y_pool == c] == c).mean() for c in range(data.n_classes)])
    return float((p_t * recall).sum())


def run(dataset: str, methods: Sequence[str], *, imbalance: float = 100.0, test_priors: Sequence[str] = ("uniform",),
        seeds: int = 3, settings: dict[str, Any] | None = None, device: str = "cpu",
        emit: Callable[[dict], None] = lambda e: None, stop: threading.Event | None = None,
        on_row: Callable[[dict], None] | None = None) -> list[dict[str, Any]]:
    """Rows: method, seed, test_prior, acc, acc_many, acc_medium, acc_few, seconds."""
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown long-tailed method '{m}' ({', '.join(METHODS)})")
    rows = []
    for seed in range(seeds):
        data = load_lt(dataset, imbalance, seed)
        for m in methods:
            t0 = time.perf_counter()
            net = train(m, data, settings, seed=seed, device=device, emit=emit, stop=stop)
            if stop is not None and stop.is_set():
                return rows
            secs = time.perf_counter() - t0
            lg = logits_of(net, data.X_pool)
            for tp in test_priors:
                p_t = test_prior(tp, data.n_classes)
                idx = shifted_test_set(data, p_t, seed)
                rows.append(dict(method=m, seed=seed, test_prior=tp, **accuracy(m, lg[idx], data.y_pool[idx], data, p_t),
                                 seconds=secs))
                emit(dict(type="fold", method=m, seed=seed, test_prior=tp, metrics=rows[-1]))
                if on_row is not None:
                    on_row(dict(row=rows[-1]))
    return rows
