"""One trainer for every method: folds × methods, best-validation-KL checkpoint, events to a callback.

Events are plain dicts (JSON-serialisable) with `type`, `method` and `fold`:
  start     config, sizes, device, the watched test samples' true distributions
  step      epoch, step and the method's loss terms (AMEMA: loss_s, loss_ns, ema_s, … mu_ns)
  epoch     validation KL / Chebyshev, mean training loss, whether this is the best epoch so far
  snapshot  predictions for the watched test samples (for the animated replay)
  fold      test metrics of the best checkpoint, seconds, best epoch, stopped
The app, the CLI (`--events`) and persistence all consume the same stream.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable

import numpy as np
import torch

from . import metrics as M
from .config import resolve
from .data import Dataset
from .device import resolve as resolve_device
from .methods import MethodSpec, TrainStats, parse
from .protocol import Protocol, Scaler, Split, make_protocol

Emit = Callable[[dict[str, Any]], None]


class Stopped(Exception):
    pass


def _noop(_: dict) -> None:
    pass


def shuffled_epochs(n: int, batch_size: int, epochs: int, seed: int, device: torch.device | str = "cpu"):
    """Yield (epoch, [index batches]) with a fresh permutation of range(n) per epoch from the run's own generator
    (every trainer — and each model of a batched run — draws its data order this way)."""
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=gen).to(device)
        yield epoch, [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def compensate(p: np.ndarray, p_s: np.ndarray, p_t: np.ndarray | None = None) -> np.ndarray:
    """Post-compensation (+pc, spec §3): logits + log p_t − log p_s, i.e. p ∝ p · p_t / p_s. p (n, C)."""
    C = p.shape[1]
    p_t = np.full(C, 1.0 / C) if p_t is None else np.asarray(p_t, np.float64)
    q = np.asarray(p, np.float64) * (p_t / np.maximum(p_s, 1e-8))
    return q / q.sum(1, keepdims=True)


def method_config(spec: MethodSpec, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The resolved config of a method (defaults + overrides, type-checked). Constants have none."""
    if spec.constant:
        return {}
    return resolve(spec.cls.schema(), overrides)


def fit_fold(spec: MethodSpec, cfg: dict[str, Any], ds: Dataset, split: Split, head: np.ndarray, *,
             device: torch.device, seed: int = 0, emit: Emit = _noop, stop: threading.Event | None = None,
             scaling: str = "minmax", pc_target: np.ndarray | None = None, watch: int = 4) -> dict[str, Any]:
    """Train (or, for a constant predictor, compute) one method on one fold; return its test result."""
    t0 = time.perf_counter()
    tag = dict(method=spec.name, fold=split.fold)
    y_kept = ds.Y[split.kept]
    y_te = ds.Y[split.test]
    watch_idx = np.arange(min(watch, len(split.test)))
    if spec.constant:
        pred = np.broadcast_to(M.constant_prediction(spec.base, y_kept, y_te), y_te.shape)
        res = dict(pred=np.array(pred), best_epoch=0, stopped=False)
    else:
        scaler = Scaler(scaling).fit(ds.X[split.kept])
        x_tr, x_val, x_te = (scaler.transform(ds.X[ix]) for ix in (split.train, split.val, split.test))
        stats = TrainStats(ds.Y[split.train])
        emit(dict(type="start", **tag, config=cfg, n_train=len(split.train), n_val=len(split.val),
                  n_test=len(split.test), device=str(device), watch_true=y_te[watch_idx].tolist()))
        res = _train(spec, cfg, x_tr, ds.Y[split.train], x_val, ds.Y[split.val], x_te, stats, device=device,
                     seed=seed * 1000 + split.fold, emit=emit, stop=stop, tag=tag, watch_idx=watch_idx)
        if spec.pc:
            res["pred"] = compensate(res["pred"], stats.prior, pc_target)
    row = dict(method=spec.name, fold=split.fold, **M.evaluate(y_te, res["pred"], head),
               seconds=time.perf_counter() - t0)
    emit(dict(type="fold", **tag, metrics={m: row[m] for m in M.METRICS}, seconds=row["seconds"],
              best_epoch=res["best_epoch"], stopped=res["stopped"],
              watch_pred=np.asarray(res["pred"])[watch_idx].tolist()))
    return dict(row=row, test_idx=split.test, **res)


def _train(spec, cfg, x_tr, y_tr, x_val, y_val, x_te, stats, *, device, seed, emit, stop, tag, watch_idx):
    method = spec.cls(cfg, x_tr.shape[1], stats, device, seed)
    X, Y = method.tensor(x_tr), method.tensor(y_tr)
    Xv, Xw = method.tensor(x_val), method.tensor(x_te[watch_idx])
    best, best_kl, best_epoch, step, stopped = method.state(), float("inf"), 0, 0, False
    for epoch, batches in shuffled_epochs(X.shape[0], cfg["batch_size"], cfg["epochs"], seed, device):
        method.train(True)
        sums: dict[str, float] = {}
        n_batches = 0
        for idx in batches:
            if stop is not None and stop.is_set():
                stopped = True
                break
            terms = method.train_step(X[idx], Y[idx])
            step += 1
            n_batches += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            if step % cfg["log_every"] == 0:
                emit(dict(type="step", **tag, epoch=epoch, step=step, **terms))
        if stopped:
            break
        method.train(False)
        pv = method.predict(Xv).cpu().numpy()
        val = M.evaluate(y_val, pv)
        improved = val["kl"] < best_kl
        if improved:
            best, best_kl, best_epoch = method.state(), val["kl"], epoch
        emit(dict(type="epoch", **tag, epoch=epoch, step=step, val_kl=val["kl"], val_chebyshev=val["chebyshev"],
                  **{f"train_{k}": v / max(n_batches, 1) for k, v in sums.items()}, best=improved))
        emit(dict(type="snapshot", **tag, epoch=epoch, pred=method.predict(Xw).cpu().numpy().tolist()))
    if best_epoch:
        method.load_state(best)
    method.train(False)
    pred = method.predict(method.tensor(x_te)).cpu().numpy().astype(np.float64)
    return dict(pred=pred, best_epoch=best_epoch, stopped=stopped, best_val_kl=best_kl)


def run_experiment(ds: Dataset, methods: Iterable[str], *, protocol: str | Protocol = "ildl", folds: int = 10,
                   seed: int = 0, thresholds=None, settings: dict[str, dict[str, Any]] | None = None,
                   device: str = "auto", emit: Emit = _noop, stop: threading.Event | None = None,
                   scaling: str = "minmax", fold_ids: Iterable[int] | None = None, pc_target=None,
                   on_fold: Callable[[dict], None] | None = None) -> list[dict[str, Any]]:
    """Every (method, fold): one result row each (metrics + seconds). Stops early when `stop` is set.

    `settings` maps a method name (or its base name) to overrides of its declared parameters.
    """
    specs = [parse(m) for m in methods]
    proto = protocol if isinstance(protocol, Protocol) else make_protocol(
        ds, protocol, folds=folds, seed=seed, thresholds=thresholds)
    dev = resolve_device(device)
    settings = settings or {}
    cfgs = {s.name: method_config(s, settings.get(s.name, settings.get(s.base))) for s in specs}
    wanted = set(range(len(proto.splits))) if fold_ids is None else set(fold_ids)
    rows = []
    for spec in specs:
        for split in proto.splits:
            if split.fold not in wanted:
                continue
            if stop is not None and stop.is_set():
                return rows
            out = fit_fold(spec, cfgs[spec.name], ds, split, proto.head, device=dev, seed=seed, emit=emit,
                           stop=stop, scaling=scaling, pc_target=pc_target)
            if out["stopped"]:
                return rows
            rows.append(out["row"])
            if on_fold is not None:
                on_fold(out)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
    """method → metric → (mean, std over folds)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == m]
        out[m] = {k: (float(np.mean([r[k] for r in rs])), float(np.std([r[k] for r in rs])))
                  for k in (*M.METRICS, "seconds")}
    return out
