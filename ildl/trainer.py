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
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from . import metrics as M
from . import selection as S
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
             scaling: str = "minmax", pc_target: np.ndarray | None = None, watch: int = 4,
             select: Sequence[str] = (S.DEFAULT,), diagnostic: bool = False) -> dict[str, Any]:
    """Train (or, for a constant predictor, compute) one method on one fold; return its test result.

    `select` lists model-selection rules (`ildl.selection`); the first is the run's own, the others are
    reported beside it from the same training. `diagnostic` records test metrics every epoch as `diag`
    events — shown, never used to choose anything."""
    t0 = time.perf_counter()
    tag = dict(method=spec.name, fold=split.fold)
    y_kept = ds.Y[split.kept]
    y_te = ds.Y[split.test]
    watch_idx = np.arange(min(watch, len(split.test)))
    select = list(select)
    if spec.constant:
        pred = np.array(np.broadcast_to(M.constant_prediction(spec.base, y_kept, y_te), y_te.shape))
        res = dict(preds={"-": pred}, best_epochs={"-": 0}, stopped=False)
    else:
        scaler = Scaler(scaling).fit(ds.X[split.kept])
        x_tr, x_val, x_te = (scaler.transform(ds.X[ix]) for ix in (split.train, split.val, split.test))
        stats = TrainStats(ds.Y[split.train])
        emit(dict(type="start", **tag, config=cfg, n_train=len(split.train), n_val=len(split.val),
                  n_test=len(split.test), device=str(device), select=select, diagnostic=diagnostic,
                  watch_true=y_te[watch_idx].tolist()))
        diag = (lambda p: M.evaluate(y_te, p, head)) if diagnostic else None
        res = _train(spec, cfg, x_tr, ds.Y[split.train], x_val, ds.Y[split.val], x_te, stats, device=device,
                     seed=seed * 1000 + split.fold, emit=emit, stop=stop, tag=tag, watch_idx=watch_idx,
                     select=select, diag=diag)
        if spec.pc:
            res["preds"] = {r: compensate(p, stats.prior, pc_target) for r, p in res["preds"].items()}
    seconds = time.perf_counter() - t0
    rows = [dict(method=spec.name, fold=split.fold, select=r, **M.evaluate(y_te, p, head), seconds=seconds)
            for r, p in res["preds"].items()]
    primary = next(iter(res["preds"]))
    emit(dict(type="fold", **tag, metrics={m: rows[0][m] for m in M.METRICS}, seconds=seconds, select=primary,
              best_epoch=res["best_epochs"][primary], best_epochs=res["best_epochs"], stopped=res["stopped"],
              watch_pred=np.asarray(res["preds"][primary])[watch_idx].tolist()))
    return dict(row=rows[0], rows=rows, test_idx=split.test, pred=res["preds"][primary],
                best_epoch=res["best_epochs"][primary], **res)


def _train(spec, cfg, x_tr, y_tr, x_val, y_val, x_te, stats, *, device, seed, emit, stop, tag, watch_idx, select,
           diag):
    """The epoch loop. Selection sees the validation records only; `diag` (test metrics) is only emitted."""
    method = spec.cls(cfg, x_tr.shape[1], stats, device, seed)
    X, Y = method.tensor(x_tr), method.tensor(y_tr)
    Xv, Xw = method.tensor(x_val), method.tensor(x_te[watch_idx])
    Xt = method.tensor(x_te) if diag is not None else None
    init = method.state()
    best = {r: (float("inf"), 0, init) for r in select}  # rule → (score, epoch, weights)
    step, stopped = 0, False
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
        rec = S.val_record(y_val, method.predict(Xv).cpu().numpy(), stats.prior)
        improved = [r for r in select if S.score(r, epoch, rec) < best[r][0]]
        if improved:
            state = method.state()
            for r in improved:
                best[r] = (S.score(r, epoch, rec), epoch, state)
        emit(dict(type="epoch", **tag, epoch=epoch, step=step, **rec,
                  **{f"train_{k}": v / max(n_batches, 1) for k, v in sums.items()}, best=select[0] in improved))
        emit(dict(type="snapshot", **tag, epoch=epoch, pred=method.predict(Xw).cpu().numpy().tolist()))
        if diag is not None:  # diagnostic only: emitted for the learner to see, read by nothing that selects
            d = diag(method.predict(Xt).cpu().numpy().astype(np.float64))
            emit(dict(type="diag", **tag, epoch=epoch, step=step, test_kl=d["kl"], test_chebyshev=d["chebyshev"],
                      note="diagnostic: test metrics, never used for selection"))
    preds, best_epochs = {}, {}
    Xte = method.tensor(x_te)
    for r in select:
        method.load_state(best[r][2])
        method.train(False)
        preds[r] = method.predict(Xte).cpu().numpy().astype(np.float64)
        best_epochs[r] = best[r][1]
    return dict(preds=preds, best_epochs=best_epochs, stopped=stopped)


def run_experiment(ds: Dataset, methods: Iterable[str], *, protocol: str | Protocol = "ildl", folds: int = 10,
                   seed: int = 0, thresholds=None, settings: dict[str, dict[str, Any]] | None = None,
                   device: str = "auto", emit: Emit = _noop, stop: threading.Event | None = None,
                   scaling: str = "minmax", fold_ids: Iterable[int] | None = None, pc_target=None,
                   on_fold: Callable[[dict], None] | None = None, select: str | Sequence[str] | None = None,
                   diagnostic: bool = False) -> list[dict[str, Any]]:
    """Every (method, fold, selection rule): one result row each (metrics + seconds). Stops early when `stop`
    is set. Constant predictors have no epochs: one row per fold, `select` '-'.

    `settings` maps a method name (or its base name) to overrides of its declared parameters; `select` is
    a rule or a list of rules (`ildl.selection`, the first is primary).
    """
    rules = S.parse(select)
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
                           stop=stop, scaling=scaling, pc_target=pc_target, select=rules, diagnostic=diagnostic)
            if out["stopped"]:
                return rows
            rows.extend(out["rows"])
            if on_fold is not None:
                on_fold(out)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
    """label → metric → (mean, std over folds); the label is the method, with '@rule' when a run reports
    several selection rules."""
    def label(r):
        return r["method"] + (f"@{r['select']}" if multi and r.get("select", "-") != "-" else "")

    multi = len({r.get("select") for r in rows if r.get("select", "-") != "-"}) > 1
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for m in dict.fromkeys(label(r) for r in rows):
        rs = [r for r in rows if label(r) == m]
        out[m] = {k: (float(np.mean([r[k] for r in rs])), float(np.std([r[k] for r in rs])))
                  for k in (*M.METRICS, "seconds")}
    return out
