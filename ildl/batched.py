"""Many models trained as one computation: AMEMA over folds × configurations, parameters stacked on a
leading model axis M.

Each model m is exactly the model the one-at-a-time path trains: the same initial weights (built by the
same `AMEMA` constructor under the same seed), the same per-epoch permutation of its own training fold
(its own generator), the same losses, EMAs, weights, clipping, heavy-ball steps and momentum updates —
only the arithmetic is batched (`torch.baddbmm`; for sparse features such as Movie's, the first layer
is an `embedding_bag` over each row's non-zeros, which skips the 99% zeros a dense matmul multiplies).
Folds with different training-set sizes are padded and masked; a model whose epoch has fewer batches
sits out the extra steps untouched. Scalars that differ between models (WEIG/MOME switches, momenta,
EMA factors, learning rates, clipping) are per-model tensors (M,).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics as Mx
from . import selection as S
from .data import Dataset
from .decouple import binary_kl, decouple, kl, log_nondominant, recombine
from .methods import TrainStats
from .methods.amema import AMEMA
from .protocol import Scaler, Split

SPARSE_DENSITY = 0.2  # below this fraction of non-zeros the first layer runs as a sparse embedding_bag


@dataclass
class ModelJob:
    """One model of a batch: a resolved AMEMA config on one fold; `tag` goes into its events and rows."""
    cfg: dict[str, Any]
    split: Split
    tag: dict[str, Any]


class Rows:
    """Feature rows of M models, padded to a common length: dense (M, n, d) or sparse (idx, val) (M, n, K)."""

    def __init__(self, mats: Sequence[np.ndarray], sparse: bool, device: torch.device):
        self.M, self.d = len(mats), mats[0].shape[1]
        self.n = [len(m) for m in mats]
        n_max = max(max(self.n), 1)
        self.sparse = sparse
        if sparse:
            K = max(1, max(int((m != 0).sum(1).max()) if len(m) else 1 for m in mats))
            idx = np.zeros((self.M, n_max, K), np.int64)
            val = np.zeros((self.M, n_max, K), np.float32)
            for i, m in enumerate(mats):
                r, c = np.nonzero(m)
                pos = np.arange(len(r)) - np.searchsorted(r, r)  # rank of each non-zero within its row
                idx[i, r, pos], val[i, r, pos] = c, m[r, c]
            self.idx = torch.as_tensor(idx, device=device)
            self.val = torch.as_tensor(val, device=device)
        else:
            X = np.zeros((self.M, n_max, self.d), np.float32)
            for i, m in enumerate(mats):
                X[i, :len(m)] = m
            self.X = torch.as_tensor(X, device=device)

    def take(self, rows: torch.Tensor) -> Any:
        """Rows (M, B) of every model → dense (M, B, d) or sparse (flat idx (M·B, K), val (M·B, K))."""
        ar = torch.arange(self.M, device=rows.device)[:, None]
        if self.sparse:
            idx = self.idx[ar, rows] + (ar[..., None] * self.d)  # offsets into the flattened (M·d, h) table
            return idx.reshape(-1, idx.shape[-1]), self.val[ar, rows].reshape(-1, idx.shape[-1])
        return self.X[ar, rows]

    def all(self) -> tuple[Any, torch.Tensor]:
        n_max = max(max(self.n), 1)
        rows = torch.arange(n_max).expand(self.M, n_max)
        mask = rows < torch.tensor(self.n)[:, None]
        return self.take(rows.to(self._device())), mask

    def _device(self) -> torch.device:
        return (self.idx if self.sparse else self.X).device


class StackedMLP:
    """M independent MLPs d → h → C: W1 (M, d, h), b1 (M, h), W2 (M, h, C), b2 (M, C)."""

    def __init__(self, nets: Sequence[torch.nn.Sequential], device: torch.device):
        def stack(get):
            return torch.stack([get(n).detach() for n in nets]).to(device).contiguous().requires_grad_(True)

        self.W1 = stack(lambda n: n[0].weight.T)
        self.b1 = stack(lambda n: n[0].bias)
        self.W2 = stack(lambda n: n[2].weight.T)
        self.b2 = stack(lambda n: n[2].bias)
        self.M, self.d, self.h = self.W1.shape

    def params(self) -> list[torch.Tensor]:
        return [self.W1, self.b1, self.W2, self.b2]

    def __call__(self, x: Any) -> torch.Tensor:
        if isinstance(x, tuple):  # sparse rows: Σ_k val_k · W1[idx_k], per model, via one embedding_bag
            idx, val = x
            h1 = F.embedding_bag(idx, self.W1.reshape(self.M * self.d, self.h), per_sample_weights=val, mode="sum")
            h1 = h1.view(self.M, -1, self.h) + self.b1[:, None, :]
        else:
            h1 = torch.baddbmm(self.b1[:, None, :], x, self.W1)
        return torch.baddbmm(self.b2[:, None, :], torch.relu(h1), self.W2)  # (M, B, C)


def _col(vals: Sequence[Any], dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(list(vals), dtype=dtype)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def train_amema(jobs: Sequence[ModelJob], ds: Dataset, head: np.ndarray, *, device: torch.device, seed: int = 0,
                emit: Callable[[dict], None] = lambda e: None, stop: threading.Event | None = None,
                scaling: str = "minmax", step_events: bool = True, sparse: bool | None = None,
                select: str = S.DEFAULT) -> list[dict[str, Any]]:
    """Train every job's AMEMA model at once; return one result row per job (metrics + seconds)."""
    t0 = time.perf_counter()
    cfgs = [j.cfg for j in jobs]
    shared = ("epochs", "batch_size", "hidden", "dominant_target", "grad_weighting")
    for key in shared:
        if len({c[key] for c in cfgs}) > 1:
            raise ValueError(f"batched AMEMA needs one value of {key!r} across the batch")
    E, bs = cfgs[0]["epochs"], cfgs[0]["batch_size"]
    M = len(jobs)

    # per model: scaling fitted on its own training part; the very same initial weights as one-at-a-time
    xs_tr, xs_val, xs_te, ys_tr, ys_val, ys_te, priors, s_nets, ns_nets = ([] for _ in range(9))
    for j in jobs:
        sp = j.split
        sc = Scaler(scaling).fit(ds.X[sp.kept])
        xs_tr.append(sc.transform(ds.X[sp.train]))
        xs_val.append(sc.transform(ds.X[sp.val]))
        xs_te.append(sc.transform(ds.X[sp.test]))
        ys_tr.append(ds.Y[sp.train])
        ys_val.append(ds.Y[sp.val])
        ys_te.append(ds.Y[sp.test])
        stats = TrainStats(ds.Y[sp.train])
        priors.append(stats.prior)
        ref = AMEMA(j.cfg, ds.d, stats, torch.device("cpu"), seed * 1000 + sp.fold)
        s_nets.append(ref.net_s)
        ns_nets.append(ref.net_ns)
    if sparse is None:
        sparse = float(np.mean([(x != 0).mean() for x in xs_tr])) < SPARSE_DENSITY
    tr, val, te = (Rows(m, sparse, device) for m in (xs_tr, xs_val, xs_te))
    n_max = max(tr.n)
    Y = torch.zeros(M, n_max, ds.n_labels, device=device)
    Y[..., 0] = 1.0  # padding rows: any valid distribution; they are masked out of every loss
    for i, y in enumerate(ys_tr):
        Y[i, :len(y)] = torch.as_tensor(y, device=device)
    net_s, net_ns = StackedMLP(s_nets, device), StackedMLP(ns_nets, device)
    params = net_s.params() + net_ns.params()
    bufs = [torch.zeros_like(p) for p in params]

    # per-model scalars (M,)
    f64 = dict(dtype=torch.float64, device=device)
    b = _col([c["b"] for c in cfgs]).to(**f64)
    alpha = _col([c["sharpness"] for c in cfgs]).to(**f64)
    m_ema = _col([c["ema"] for c in cfgs]).to(**f64)
    gamma = _col([c["mu_step"] for c in cfgs]).to(**f64)
    mu_max = _col([c["mu_max"] for c in cfgs]).to(**f64)
    weighted = cfgs[0]["grad_weighting"] == "weighted"
    lr = _col([c["lr"] for c in cfgs], torch.float32).to(device)
    wd = _col([c["weight_decay"] for c in cfgs], torch.float32).to(device)
    clip = _col([c["clip"] for c in cfgs], torch.float32).to(device)
    use_wd = bool((wd != 0).any())
    weig = torch.tensor([c["weig"] for c in cfgs], device=device)
    mome = torch.tensor([c["mome"] for c in cfgs], device=device)
    mu_s = _col([c["mu_s0"] if c["mome"] else c["shared_mu"] for c in cfgs]).to(**f64)
    mu_ns = _col([c["mu_ns0"] if c["mome"] else c["shared_mu"] for c in cfgs]).to(**f64)
    ema_s = torch.zeros(M, **f64)
    ema_ns = torch.zeros(M, **f64)
    onehot_target = cfgs[0]["dominant_target"] == "onehot"

    gens = [torch.Generator().manual_seed(seed * 1000 + j.split.fold) for j in jobs]
    best = [p.detach().clone() for p in params]
    best_kl = np.full(M, np.inf)
    best_epoch = np.zeros(M, int)
    step = np.zeros(M, int)
    ar = torch.arange(M, device=device)
    for j in jobs:
        emit(dict(type="start", **j.tag, config_values=j.cfg, n_train=len(j.split.train), n_val=len(j.split.val),
                  n_test=len(j.split.test), device=str(device), batched=M))

    def losses(xb, yb, mask):
        """Per-model mean branch losses (M,) over the real (unmasked) rows."""
        z_s, z_ns = net_s(xb), net_ns(xb)  # (M, B, C)
        C = z_s.shape[-1]
        yf = yb.reshape(-1, C)
        d = decouple(yf, "renorm")
        zs, zn = z_s.reshape(-1, C), z_ns.reshape(-1, C)
        l_s = kl(d.onehot, torch.log_softmax(zs, -1)) if onehot_target else binary_kl(d.dk, zs, d.k)
        l_ns = kl(d.nondom, log_nondominant(zn, d.k))
        cnt = mask.sum(1).clamp_min(1)
        return ((l_s.view(mask.shape) * mask).sum(1) / cnt, (l_ns.view(mask.shape) * mask).sum(1) / cnt)

    @torch.no_grad()
    def predict(rows: Rows) -> torch.Tensor:
        x, _ = rows.all()
        z_s, z_ns = net_s(x), net_ns(x)
        C = z_s.shape[-1]
        p_bar = torch.softmax(z_s.reshape(-1, C), -1)
        k = p_bar.argmax(-1)
        q = p_bar.gather(-1, k[:, None]).squeeze(-1)
        p_hat = log_nondominant(z_ns.reshape(-1, C), k).exp()
        return recombine(k, q, p_hat).view(M, -1, C)

    stopped = False
    for epoch in range(1, E + 1):
        perms = [torch.randperm(n, generator=g) for n, g in zip(tr.n, gens)]
        n_steps = max(math.ceil(n / bs) for n in tr.n)
        for s in range(n_steps):
            if stop is not None and stop.is_set():
                stopped = True
                break
            rows = torch.zeros(M, bs, dtype=torch.long)
            mask = torch.zeros(M, bs)
            for i, p in enumerate(perms):
                part = p[s * bs:(s + 1) * bs]
                rows[i, :len(part)] = part
                mask[i, :len(part)] = 1.0
            rows, mask = rows.to(device), mask.to(device)
            active = mask.sum(1) > 0  # (M,) models with a batch at this step
            L_s, L_ns = losses(tr.take(rows), Y[ar[:, None], rows], mask)
            ls64, lns64 = L_s.detach().double(), L_ns.detach().double()
            ema_s = torch.where(active, m_ema * ema_s + (1 - m_ema) * ls64, ema_s)
            ema_ns = torch.where(active, m_ema * ema_ns + (1 - m_ema) * lns64, ema_ns)
            r = ema_ns / (ema_s + 1e-8)
            sig = torch.sigmoid(alpha * (r - 1))
            w_ns = torch.where(weig, b + (1 - b) * sig, torch.full_like(r, 0.5))
            w_s = 1 - w_ns
            act = active.float()
            total = (act * ((w_s.float() * L_s + w_ns.float() * L_ns) if weighted else (L_s + L_ns))).sum()
            for p in params:
                p.grad = None
            total.backward()
            with torch.no_grad():
                # In place, with per-model scalars arranged so that a model without a batch this step is
                # left exactly as it was: its gradient scale is 0, its momentum 1, its step size 0.
                lr_eff = torch.where(active, lr, torch.zeros_like(lr))
                for branch, mu in ((slice(0, 4), mu_s), (slice(4, 8), mu_ns)):
                    ps, vs = params[branch], bufs[branch]
                    gs = [p.grad for p in ps]
                    # torch.nn.utils.clip_grad_norm_, per model: coef = clip / (‖g‖ + 1e-6), at most 1
                    norm = torch.stack([g.reshape(M, -1).norm(dim=1) for g in gs]).norm(dim=0)
                    coef = torch.where(clip > 0, (clip / (norm + 1e-6)).clamp(max=1.0), torch.ones_like(norm))
                    coef = torch.where(active, coef, torch.zeros_like(coef))
                    mu_eff = torch.where(active, mu.float(), torch.ones_like(coef))
                    for p, g, v in zip(ps, gs, vs):
                        g.mul_(_bcast(coef, g))
                        if use_wd:  # SGD: weight decay joins the (clipped) gradient
                            g.add_(_bcast(wd * active.float(), p) * p)
                        v.mul_(_bcast(mu_eff, v)).add_(g)  # heavy ball: v ← μ v + g
                        p.addcmul_(v, _bcast(lr_eff, p), value=-1.0)  # θ ← θ − η v
            logged_mu_s, logged_mu_ns = mu_s.clone(), mu_ns.clone()
            upd = active & mome
            mu_ns = torch.where(upd, torch.minimum((mu_ns + gamma * sig).clamp_min(0.0), mu_max), mu_ns)
            mu_s = torch.where(upd, torch.minimum((mu_s - gamma * sig).clamp_min(0.0), mu_max), mu_s)
            step += active.cpu().numpy()
            if step_events:
                cols = dict(loss_s=L_s.tolist(), loss_ns=L_ns.tolist(), ema_s=ema_s.tolist(), ema_ns=ema_ns.tolist(),
                            r=r.tolist(), w_s=w_s.tolist(), w_ns=w_ns.tolist(), mu_s=logged_mu_s.tolist(),
                            mu_ns=logged_mu_ns.tolist())
                for i in np.nonzero(active.cpu().numpy())[0]:
                    ev = {k: v[i] for k, v in cols.items()}
                    ev["loss"] = ev["w_s"] * ev["loss_s"] + ev["w_ns"] * ev["loss_ns"]
                    emit(dict(type="step", **jobs[i].tag, epoch=epoch, step=int(step[i]), **ev))
        if stopped:
            break
        pv = predict(val).cpu().numpy()
        for i, j in enumerate(jobs):
            rec = S.val_record(ys_val[i], pv[i, :val.n[i]].astype(np.float64), priors[i])
            sc = S.score(select, epoch, rec)
            improved = sc < best_kl[i]
            if improved:
                best_kl[i], best_epoch[i] = sc, epoch
                for bp, p in zip(best, params):
                    bp[i] = p.detach()[i]
            emit(dict(type="epoch", **j.tag, epoch=epoch, step=int(step[i]), **rec, best=bool(improved)))
    with torch.no_grad():
        for i in range(M):
            if best_epoch[i]:
                for bp, p in zip(best, params):
                    p[i] = bp[i]
    pt = predict(te).cpu().numpy()
    seconds = (time.perf_counter() - t0) / M  # the batch's wall time, shared out
    out = []
    for i, j in enumerate(jobs):
        pred = pt[i, :te.n[i]].astype(np.float64)
        row = dict(**j.tag, select=select, **Mx.evaluate(ys_te[i], pred, head), seconds=seconds)
        emit(dict(type="fold", **j.tag, metrics={m: row[m] for m in Mx.METRICS}, seconds=seconds,
                  best_epoch=int(best_epoch[i]), stopped=stopped))
        out.append(dict(row=row, pred=pred, test_idx=j.split.test, best_epoch=int(best_epoch[i]), stopped=stopped))
    return out
