"""Group-DIR: deep imbalanced regression by group classification with symmetric descending soft labels.

Pu et al. "Leveraging Group Classification with Descending Soft Labeling for Deep Imbalanced
Regression". AAAI 2025 — spec §4. Baselines: plain MSE / L1 regression and LDS re-weighting
(Yang et al., "Delving into Deep Imbalanced Regression", ICML 2021).

Model: encoder f: x (B, d) → z (B, h); group classifier h(z) → |G| logits; |G| expert regressors
φ_g(z) → ŷ (one Linear(h, |G|), expert g = column g). Training routes each sample to the expert of its
*true* group; testing routes it to the expert of the *predicted* group (argmax of h).
  L = L_grc + λ1·L_mse + λ2·L_cls        (λ1 = 0.5, λ2 = 1)
L_cls: CE on the group (group-ce), CE on logits + τ log prior (group-la), or KL to the soft label
q = softmax(|G| − β|i − g|) (group-soft). Evaluation is per shot on the natural test folds (no
re-balancing): MAE and GM overall and on many / medium / few-shot one-unit target bins, shot thresholds
scaled to the data (`ildl.regression.shot_thresholds`).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.model_selection import KFold

from .config import Param, resolve
from .data import DataError, Dataset
from .protocol import Scaler
from .regression import group_edges, group_of, lds_weights, shot_regions, soft_labels
from .trainer import shuffled_epochs

METHODS = ("mse", "lds", "group-ce", "group-la", "group-soft")
PARAMS = (
    Param("epochs", "int", 60, "passes over the training fold", 1, 2000, 1),
    Param("batch_size", "int", 64, "mini-batch size", 2, 4096, 1),
    Param("lr", "float", 1e-3, "AdamW learning rate", 1e-5, 1.0, log=True),
    Param("weight_decay", "float", 1e-4, "AdamW weight decay", 0.0, 1.0),
    Param("hidden", "int", 128, "encoder width (the representation z)", 4, 2048, 1),
    Param("beta", "float", 1.0, "β of the soft labels softmax(|G| − β|i − g|)", 0.0, 20.0),
    Param("tau", "float", 1.0, "τ of the logit-adjusted group criterion", 0.0, 5.0),
    Param("lambda1", "float", 0.5, "λ1: weight of the expert regression loss", 0.0, 10.0),
    Param("lambda2", "float", 1.0, "λ2: weight of the group classification loss", 0.0, 10.0),
    Param("temperature", "float", 2.5, "t of the group-contrastive similarity exp(cos/t) (the paper's 2.5; spec §4 "
          "writes 2)", 0.01, 100.0),
    Param("contrastive", "bool", True, "use the ordinal group-contrastive loss L_grc"),
    Param("loss", "choice", "l2", "regression loss of mse / lds", choices=("l2", "l1")),
)
COLUMNS = ("method", "fold", "mae", "gm", "mae_many", "mae_medium", "mae_few", "gm_many", "gm_medium", "gm_few",
           "group_acc", "seconds")


def group_contrastive(z: torch.Tensor, g: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """Ordinal group-contrastive loss (Rank-N-Contrast on group ids), z (B, h), g (B,) → scalar.

    For anchor i and positive j ≠ i: −log( s(i,j) / Σ_{k≠i, |g_i−g_k| ≥ |g_i−g_j|} s(i,k) ),
    s(i,k) = exp(cos(z_i, z_k)/t), averaged over all ordered pairs (i, j)."""
    B = z.shape[0]
    if B < 2:
        return z.sum() * 0.0
    zn = F.normalize(z, dim=-1)
    logits = zn @ zn.T / t  # (B, B)
    d = (g[:, None] - g[None, :]).abs().float()  # (B, B) label distance
    off = ~torch.eye(B, dtype=torch.bool, device=z.device)
    # mask[i, j, k] = k ≠ i and d[i, k] ≥ d[i, j]: the negatives of pair (i, j)
    mask = (d[:, None, :] >= d[:, :, None]) & off[:, None, :]
    denom = torch.logsumexp(logits[:, None, :].expand(B, B, B).masked_fill(~mask, float("-inf")), dim=-1)
    nll = denom - logits  # (B, B): −log s(i,j)/Σ s(i,k)
    return nll[off].mean()


class GroupDIR(nn.Module):
    """Encoder + group classifier + experts. x (B, d) → z (B, h), group logits (B, G), expert outputs (B, G)."""

    def __init__(self, d: int, hidden: int, n_groups: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, n_groups)
        self.experts = nn.Linear(hidden, n_groups)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, self.classifier(z), self.experts(z)

    @staticmethod
    def route(experts: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """The output of each sample's expert: experts (B, G), groups (B,) → (B,)."""
        return experts.gather(-1, groups[:, None]).squeeze(-1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-time routing: the expert of the *predicted* group. → (ŷ (B,), predicted group (B,))."""
        _, logits, experts = self(x)
        g_hat = logits.argmax(-1)
        return self.route(experts, g_hat), g_hat


class Regressor(nn.Module):
    """Plain regression baseline: the same encoder and one linear head."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.encoder(x)).squeeze(-1)


def targets_of(ds: Dataset) -> np.ndarray:
    for key in ("age", "target"):
        if key in ds.extras:
            return ds.extras[key].astype(np.float64)
    raise DataError(f"{ds.name}: imbalanced regression needs a target array 'age' or 'target' in the file")


def dir_metrics(y: np.ndarray, pred: np.ndarray, train_y: np.ndarray) -> dict[str, float]:
    """MAE and GM (geometric mean of |error|) overall and per shot region of the one-unit target bins."""
    err = np.abs(pred - y)
    out = {"mae": float(err.mean()), "gm": float(np.exp(np.log(np.maximum(err, 1e-8)).mean()))}
    lo = np.floor(min(train_y.min(), y.min()))
    bins = np.arange(lo, np.ceil(max(train_y.max(), y.max())) + 2)
    counts = np.histogram(train_y, bins=bins)[0]
    regions = shot_regions(counts)
    region_of = regions[np.clip(np.searchsorted(bins, y, side="right") - 1, 0, len(counts) - 1)]
    for r in ("many", "medium", "few"):
        e = err[region_of == r]
        out[f"mae_{r}"] = float(e.mean()) if len(e) else float("nan")
        out[f"gm_{r}"] = float(np.exp(np.log(np.maximum(e, 1e-8)).mean())) if len(e) else float("nan")
    return out


def fit_fold(method: str, cfg: dict[str, Any], X_tr, y_tr, X_te, y_te, *, n_groups: int, seed: int = 0,
             device: str = "cpu", emit: Callable[[dict], None] = lambda e: None,
             stop: threading.Event | None = None, tag: dict | None = None) -> dict[str, Any]:
    """Train one method on one fold; return metrics, predictions, predicted and true groups."""
    tag = tag or {}
    t0 = time.perf_counter()
    sc = Scaler("minmax").fit(X_tr)
    Xtr = torch.as_tensor(sc.transform(X_tr), device=device)
    Xte = torch.as_tensor(sc.transform(X_te), device=device)
    mu, sd = float(y_tr.mean()), float(y_tr.std() or 1.0)
    Ytr = torch.as_tensor((y_tr - mu) / sd, dtype=torch.float32, device=device)  # regress standardised targets
    edges = group_edges(y_tr, n_groups)
    g_tr = torch.as_tensor(group_of(y_tr, edges), device=device)
    g_te = group_of(y_te, edges)
    prior = torch.bincount(g_tr, minlength=n_groups).float() / len(g_tr)
    grouped = method.startswith("group-")
    torch.manual_seed(seed)
    net = (GroupDIR(X_tr.shape[1], cfg["hidden"], n_groups) if grouped else Regressor(X_tr.shape[1], cfg["hidden"]))
    net = net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    w_lds = torch.as_tensor(lds_weights(y_tr, np.arange(np.floor(y_tr.min()), np.ceil(y_tr.max()) + 2)),
                            dtype=torch.float32, device=device) if method == "lds" else None
    soft = soft_labels(torch.arange(n_groups), n_groups, cfg["beta"]).float().to(device)  # (G, G)
    step = 0
    for epoch, batches in shuffled_epochs(len(Xtr), cfg["batch_size"], cfg["epochs"], seed, device):
        for idx in batches:
            if stop is not None and stop.is_set():
                break
            xb, yb, gb = Xtr[idx], Ytr[idx], g_tr[idx]
            terms: dict[str, torch.Tensor] = {}
            if grouped:
                z, logits, experts = net(xb)
                y_hat = GroupDIR.route(experts, gb)  # training: the expert of the *true* group
                terms["mse"] = F.mse_loss(y_hat, yb)
                if method == "group-ce":
                    terms["cls"] = F.cross_entropy(logits, gb)
                elif method == "group-la":
                    terms["cls"] = F.cross_entropy(logits + cfg["tau"] * torch.log(prior.clamp_min(1e-12)), gb)
                else:  # symmetric descending soft labels: KL(q ‖ softmax(logits)) up to q's entropy
                    terms["cls"] = -(soft[gb] * torch.log_softmax(logits, -1)).sum(-1).mean()
                terms["grc"] = group_contrastive(z, gb, cfg["temperature"]) if cfg["contrastive"] else xb.sum() * 0
                L = terms["grc"] + cfg["lambda1"] * terms["mse"] + cfg["lambda2"] * terms["cls"]
            else:
                y_hat = net(xb)
                e = (y_hat - yb).abs() if cfg["loss"] == "l1" else (y_hat - yb) ** 2
                L = (e * w_lds[idx]).mean() if w_lds is not None else e.mean()
            opt.zero_grad(set_to_none=True)
            L.backward()
            opt.step()
            step += 1
            emit(dict(type="step", **tag, epoch=epoch, step=step, loss=float(L.detach()),
                      **{k: float(v.detach()) for k, v in terms.items()}))
        net.eval()
        with torch.no_grad():
            if grouped:
                yp, gp = net.predict(Xte)
                gacc = float((gp.cpu().numpy() == g_te).mean())
            else:
                yp, gacc = net(Xte), float("nan")
        net.train()
        pred = yp.cpu().numpy().astype(np.float64) * sd + mu
        emit(dict(type="epoch", **tag, epoch=epoch, step=step, test_mae=float(np.abs(pred - y_te).mean()),
                  group_acc=gacc))
        if stop is not None and stop.is_set():
            break
    net.eval()
    with torch.no_grad():
        if grouped:
            yp, gp = net.predict(Xte)
            g_pred = gp.cpu().numpy()
        else:
            yp = net(Xte)
            g_pred = group_of(yp.cpu().numpy() * sd + mu, edges)
    pred = yp.cpu().numpy().astype(np.float64) * sd + mu
    row = dict({"method": method, **tag}, **dir_metrics(y_te, pred, y_tr),
               group_acc=float((g_pred == g_te).mean()) if grouped else float("nan"),
               seconds=time.perf_counter() - t0)
    return dict(row=row, pred=pred, g_pred=g_pred, g_true=g_te)


def run(ds: Dataset, methods: Sequence[str], *, n_groups: int = 10, folds: int = 5, seed: int = 0,
        settings: dict[str, Any] | None = None, device: str = "cpu", emit: Callable[[dict], None] = lambda e: None,
        stop: threading.Event | None = None, fold_ids: Sequence[int] | None = None,
        on_fold: Callable[[dict], None] | None = None) -> list[dict[str, Any]]:
    """K-fold (shuffled, random_state = seed) over the whole set; one row per (method, fold)."""
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown imbalanced-regression method '{m}' ({', '.join(METHODS)})")
    y = targets_of(ds)
    if ds.n < folds:
        raise DataError(f"{ds.name}: {ds.n} samples are fewer than {folds} folds")
    cfg = resolve(PARAMS, settings)
    rows = []
    for f, (tr, te) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(ds.X)):
        if fold_ids is not None and f not in set(fold_ids):
            continue
        for m in methods:
            if stop is not None and stop.is_set():
                return rows
            out = fit_fold(m, cfg, ds.X[tr], y[tr], ds.X[te], y[te], n_groups=n_groups, seed=seed * 1000 + f,
                           device=device, emit=emit, stop=stop, tag=dict(method=m, fold=f))
            out["row"]["fold"] = f
            rows.append(out["row"])
            if on_fold is not None:
                on_fold(out)
    return rows


def load_dir(name: str, **kw) -> Dataset:
    """FG-Net (bundled, `age`), `synthetic-dir` (the skewed generator) or any file with an `age`/`target` array."""
    from .data import load
    from .regression import SYNTHETIC_DIR_PARAMS, make_synthetic_dir

    if name == "synthetic-dir":
        return make_synthetic_dir(**resolve(SYNTHETIC_DIR_PARAMS, kw))
    ds = load(name)
    targets_of(ds)
    return ds


def criterion_comparison(ds: Dataset, group_counts: Sequence[int] = (5, 10, 25),
                         criteria: Sequence[str] = ("group-ce", "group-la", "group-soft"), *, epochs: int = 30,
                         seed: int = 0) -> dict[str, Any]:
    """Fold 0 of a 5-fold split, every criterion × |G|: group accuracy, and |predicted − true group| per test
    sample (the paper's Fig. 5 histograms). → {"acc": {crit: {G: acc}}, "dist": {crit: {G: array}}}."""
    y = targets_of(ds)
    tr, te = next(iter(KFold(5, shuffle=True, random_state=seed).split(ds.X)))
    cfg = resolve(PARAMS, {"epochs": epochs})
    acc: dict[str, dict[int, float]] = {c: {} for c in criteria}
    dist: dict[str, dict[int, np.ndarray]] = {c: {} for c in criteria}
    for G in group_counts:
        for c in criteria:
            out = fit_fold(c, cfg, ds.X[tr], y[tr], ds.X[te], y[te], n_groups=G, seed=seed)
            acc[c][G] = out["row"]["group_acc"]
            dist[c][G] = np.abs(out["g_pred"] - out["g_true"])
    return {"acc": acc, "dist": dist}
