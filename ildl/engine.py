"""The one trainer: every method of every task, a stack of M models trained as one computation (M = 1 for a
single model). A study's grid, a run's folds, a comparison's methods — whatever shares a method class and
the same shapes trains together; each model keeps its own initial weights (built under its own seed), its
own data order, noise stream, optimiser state, clipping, method state and model selection, so the result
of a model does not depend on what it was stacked with (tested to ~1e-5 against M = 1).

Per step, for the models that have a batch (folds of different sizes are padded and masked):
  out = method.loss(P, batch, state)            a Loss: logged terms (M,), new state, the objective minimised
  grads = ∂ Σ_m objective_m / ∂θ                models are independent, so this is each model's own gradient
  per group: clip per model, then the optimiser's elementwise step (per-model hyper-parameters)
Per epoch: validation record → every selection rule's running best (per model), `epoch` / `snapshot`
events, and with `diagnostic` the test metrics as `diag` events that nothing reads back.
A job with `ensemble` K > 1 is K models of the stack (members from their own seeds, each selected by its own
validation record); its result is the task's combination of the members' test outputs (ldl: their mean
distribution). Member 0 is the job alone — its seed, its events; the other members train silently.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import events as E
from . import selection as S
from .methods import Batch, MethodSpec, parse
from .optim import RowGrad
from .stack import Params, Rows, Sparse, bcast, copy_models, pad
from .tasks import Fold, Task

Emit = Callable[[dict[str, Any]], None]
LAZY_MIN = 2_000_000  # stacked first-layer elements from which lazy rows pay for their bookkeeping (Movie: M ≥ 11)
NOISE_OFFSET = 7919  # a model's noise stream: seed + 7919 (its data order uses the seed itself)
MEMBER_OFFSET = 1_000_003  # ensemble member m of a job trains from seed + m·1000003 (member 0: the job's own seed)

# nn.Module initialisation draws from torch's *global* RNG; two jobs in two threads must not interleave
# their draws, or a seed would no longer fix the result.
_INIT_LOCK = threading.Lock()


def _noop(_: dict) -> None:
    pass


@dataclass
class ModelJob:
    """One model to train: a method (with its resolved config) on one fold, and the tag its events carry."""
    spec: MethodSpec
    cfg: dict[str, Any]
    fold: Fold
    seed: int
    tag: dict[str, Any]
    dims: dict[str, int]


@dataclass
class Result:
    job: ModelJob
    rows: list[dict[str, Any]]  # result rows: tag, select, row keys, metrics, seconds
    best_epochs: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    seconds: float = 0.0
    pred: Any = None  # the primary rule's test predictions (what the Decoupling / Compare pages read)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. dir's (predicted, true) test groups


class Trainer:
    """M models of one method as one computation: stacked parameters, optimisers, clipping and method state.
    `step` takes one batch for all models; `predict` runs them on stacked rows. The engine's loop drives it;
    tests drive it with hand-made batches."""

    def __init__(self, cls: type, cfgs: Sequence[dict[str, Any]], stats: Sequence[dict[str, Any]],
                 dims: dict[str, int], seeds: Sequence[int], device: torch.device = torch.device("cpu")):
        self.method = cls(cfgs, stats, dims, device)
        self.method.seeds = [int(s) for s in seeds]  # for solvers that draw (k-means seeding), per model
        self.M = len(cfgs)
        self.device = device
        with _INIT_LOCK:
            models = []
            for seed in seeds:
                torch.manual_seed(seed)
                models.append(self.method.build())
        self.P = Params.stack(models, device, self.method.dtype)
        self.names = list(self.P)
        self.groups = self.method.groups(self.P)
        self.state = self.method.init_state()
        # first-layer weights fed by sparse rows: their gradient has the rows a batch touches, the optimiser moves
        # the other rows lazily (exactly; `SGD.fetch` and `SGD.sync`) — where the optimiser can (heavy-ball without decay)
        self.lazy: dict[str, tuple[Any, int]] = {}
        # (CPU only: the local table's size is read on the host each step, a sync a GPU should not wait on)
        big = [n for n in self.method.sparse_rows if self.P[n].numel() >= LAZY_MIN and device.type == "cpu"]
        for n in big:
            for grp in self.groups:
                if n in grp.names and hasattr(grp.opt, "make_lazy") and grp.opt.make_lazy(grp.names.index(n)):
                    self.lazy[n] = (grp, grp.names.index(n))

    def _local_rows(self, P: Params, batch, lazy: dict) -> tuple[Params, Any, tuple]:
        """The rows U a sparse batch touches, as each model's own dense local table: features x_loc (M, B, K) and
        weights W_loc (M, K, out) with K the most rows one model touches — so the first layer is one small bmm,
        its gradient (M, K, out) has only those rows, and everything else of the method is unchanged."""
        x = batch.x
        M = self.M
        n0 = next(iter(lazy))
        d_in = self.P[n0].shape[1]
        present = torch.zeros(M * d_in, dtype=torch.bool, device=x.idx.device)
        present[x.idx.reshape(-1)] = True
        U = present.nonzero().squeeze(1)  # sorted: grouped by model
        m_of = torch.div(U, d_in, rounding_mode="floor")
        counts = torch.bincount(m_of, minlength=M)
        K = int(counts.max())
        slot = torch.arange(len(U), device=U.device) - (torch.cumsum(counts, 0) - counts)[m_of]
        pos = torch.zeros(M * d_in, dtype=torch.long, device=U.device)
        pos[U] = slot
        xl = torch.zeros(x.idx.shape[0], K, dtype=x.val.dtype, device=x.val.device)
        xl.scatter_add_(1, pos[x.idx], x.val)
        P = Params(P)
        for n, (grp, k) in lazy.items():
            W = torch.zeros(M, K, self.P[n].shape[2], dtype=self.P[n].dtype, device=U.device)
            W[m_of, slot] = grp.opt.fetch(k, U)  # the rows, brought up to date
            P[n] = W.requires_grad_(True)
        return P, replace(batch, x=xl.view(M, -1, K)), (U, m_of, slot)

    def sync(self) -> None:
        """Bring every lazily updated row up to date (before anything reads the parameters)."""
        for grp in {id(g): g for g, _ in self.lazy.values()}.values():
            grp.opt.sync()

    def step(self, batch, active: torch.Tensor | None = None, host_active: list[bool] | None = None
             ) -> dict[str, torch.Tensor]:
        """One optimiser step of every model with a batch (`active` (M,), default: any real row; `host_active` the
        same on the host, when the caller knows it, so that no optimiser reads it from the device)."""
        active = batch.mask.any(1) if active is None else active
        method, P = self.method, self.P
        if method.full_batch:  # its own solver (L-BFGS, ADMM, full-batch Adam) moves P
            return {k: v.detach() for k, v in method.iterate(P, batch).items()}
        lazy = self.lazy if isinstance(batch.x, Sparse) else {}
        if lazy:
            P, batch, local = self._local_rows(P, batch, lazy)
        out = method.loss(P, batch, self.state)
        self.state = {k: torch.where(bcast(active, v), v, self.state[k]) for k, v in out.state.items()}
        objective = torch.where(active, out.minimised, 0.0)
        grads = torch.autograd.grad(objective.sum(), [P[n] for n in self.names], allow_unused=True)
        grad = {n: g if g is not None else torch.zeros_like(P[n]) for n, g in zip(self.names, grads)}
        for n in lazy:  # the local table's gradient, on the flat rows it stands for
            U, m_of, slot = local
            grad[n] = RowGrad(U, grad[n][m_of, slot], self.P[n].shape[1], self.M)
        method.before_step(self.groups, self.state)
        for grp in self.groups:
            gs = [grad[n] for n in grp.names]
            if hasattr(grp.opt, "host_active"):
                grp.opt.host_active = host_active
            grp.opt.step(gs, active, grp.clip(gs, active) if grp.clip is not None else None)
        self.state = method.after_step(self.state, out, active)
        return {k: v.detach() for k, v in out.terms.items()}

    @torch.no_grad()
    def predict(self, x) -> Any:
        self.sync()
        return self.method.predict(self.P, x)


def stack_key(job: ModelJob) -> tuple:
    """Jobs with equal keys can share a stack: same method class, shapes and dims."""
    cls = job.spec.entry.cls
    return (cls, tuple(repr(job.cfg.get(k)) for k in cls.shape_keys), tuple(sorted(job.dims.items())))


def _per_model(out: Any, ns: Sequence[int]) -> list[Any]:
    """Stacked outputs (M, n_max, …) or {name: (M, n_max, …)} → one numpy value per model, padding cut off."""
    if isinstance(out, dict):
        parts = {k: v.detach().cpu().numpy() for k, v in out.items()}
        return [{k: v[i, :n] for k, v in parts.items()} for i, n in enumerate(ns)]
    arr = out.detach().cpu().numpy()
    return [arr[i, :n].astype(np.float64) for i, n in enumerate(ns)]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _pace(started: float, pace: float, stop: threading.Event | None) -> None:
    """Classroom pace: let an epoch last at least `pace` seconds (sleeping, so results do not change)."""
    while pace > 0 and time.perf_counter() - started < pace and not (stop is not None and stop.is_set()):
        time.sleep(max(0.0, min(0.05, pace - (time.perf_counter() - started))))


def train(task: Task, jobs: Sequence[ModelJob], *, device: torch.device, emit: Emit = _noop,
          stop: threading.Event | None = None, select: Sequence[str] = (S.DEFAULT,), diagnostic: bool = False,
          step_events: bool = True, pace: float = 0.0) -> list[Result]:
    """Train one stack (jobs sharing a `stack_key`); one Result per job, in order. `pace` (seconds per epoch,
    at least) slows training down to a watchable speed without touching the maths."""
    t0 = time.perf_counter()
    parents, jobs, owner = jobs, _members(jobs), []
    for i, j in enumerate(parents):
        owner += [i] * _n_members(j)
    emit = _member_zero(emit)
    M = len(jobs)
    cls = jobs[0].spec.entry.cls
    n_max = max(j.fold.n("train") for j in jobs)
    dims = {**jobs[0].dims, "n": n_max} if cls.full_batch else jobs[0].dims  # per-sample variables need n
    stack = Trainer(cls, [j.cfg for j in jobs], [j.fold.stats for j in jobs], dims, [j.seed for j in jobs], device)
    method, P = stack.method, stack.P
    rules = [r for r in select if r in task.select_rules] or [task.select_rules[0]]

    data = _StackData.of(task, jobs, device, max(n_max, 1) if cls.full_batch else method.cfg["batch_size"],
                         cls.full_batch)
    n_epochs = method.cfg["epochs"]
    log_every = [int(j.cfg.get("log_every", 1)) for j in jobs]
    order_gens = [torch.Generator().manual_seed(j.seed) for j in jobs]
    noise_gens = [torch.Generator().manual_seed(j.seed + NOISE_OFFSET) for j in jobs]
    for i, j in enumerate(jobs):
        emit(E.make("start", j.tag, config=j.cfg, n_train=data.train.n[i], n_val=data.n_val[i], n_test=data.test.n[i],
                    device=str(device), stack=M, select=rules, diagnostic=diagnostic,
                    watch_true=data.watched[i][1] if data.watched[i] is not None else None))

    best = {r: dict(score=np.full(M, np.inf), epoch=np.zeros(M, int),
                    params=None if r == "last" else P.copy()) for r in rules}
    steps = np.zeros(M, int)
    n_steps = max(math.ceil(n / data.batch) for n in data.train.n) if max(data.train.n) else 0
    stopped = False
    for epoch in range(1, n_epochs + 1):
        epoch_started = time.perf_counter()
        order = torch.full((M, max(n_steps, 1) * data.batch), -1, dtype=torch.long)
        for i, g in enumerate(order_gens):  # each model's own permutation of its own fold (full batch: as stored)
            order[i, :data.train.n[i]] = torch.arange(data.train.n[i]) if cls.full_batch else \
                torch.randperm(data.train.n[i], generator=g)
        mask_host = (order >= 0).numpy()  # which rows are real is known here: a step needs no read from the device
        order = order.to(device)
        sums_dev: dict[str, torch.Tensor] = {}  # per-epoch sums of the finite step terms, (M,) on the device
        finite_dev: dict[str, torch.Tensor] = {}
        for s in range(n_steps):
            if stop is not None and stop.is_set():
                stopped = True
                break
            idx = order[:, s * data.batch:(s + 1) * data.batch]
            mask = idx >= 0  # (M, B) real rows
            rows = idx.clamp_min(0)
            host = mask_host[:, s * data.batch:(s + 1) * data.batch]
            counts = host.sum(1).tolist()
            act = host.any(1)
            active = mask.any(1)
            terms = stack.step(data.batch_of(rows, mask, counts, noise_gens), active,
                               host_active=act.tolist())
            steps += act
            for k, v in terms.items():
                ok = active & torch.isfinite(v)
                add = torch.where(ok, v.detach().double(), 0.0)
                sums_dev[k] = sums_dev[k] + add if k in sums_dev else add
                finite_dev[k] = finite_dev[k] + ok if k in finite_dev else ok.long()
            due = [i for i in np.nonzero(act)[0] if steps[i] % log_every[i] == 0] if step_events else []
            if due:  # the one read from the device per logged step
                logged = {k: v.detach().double().cpu().tolist() for k, v in terms.items()}
                for i in due:
                    emit(E.make("step", jobs[i].tag, epoch=epoch, step=int(steps[i]),
                                **{k: v[i] for k, v in logged.items() if math.isfinite(v[i])}))
        host_sums = {k: v.cpu().tolist() for k, v in sums_dev.items()}  # once per epoch
        host_finite = {k: v.cpu().tolist() for k, v in finite_dev.items()}
        sums = [{k: host_sums[k][i] for k in host_sums if host_finite[k][i]} for i in range(M)]
        if stopped:
            break
        stack.sync()
        _end_of_epoch(task, method, jobs, P, data, rules, best, epoch=epoch, steps=steps, sums=sums, emit=emit,
                      diagnostic=diagnostic)
        _pace(epoch_started, pace, stop)

    # a stacked model has no time of its own: each row carries the stack's wall time, its size and the share
    wall = time.perf_counter() - t0
    seconds = wall / M
    first = [owner.index(p) for p in range(len(parents))]  # each job's member 0
    if stopped:  # a stopped model reports nothing: a half-trained fold is not a result
        out = [Result(j, [], {r: int(best[r]["epoch"][first[p]]) for r in rules}, True, seconds * _n_members(j))
               for p, j in enumerate(parents)]
        for r in out:
            emit(E.make("fold", r.job.tag, metrics={}, rows=[], best_epochs=r.best_epochs, seconds=r.seconds,
                        stopped=True))
        return out
    outs, vals = {}, {}
    final = P.copy() if any(r != "last" for r in rules) else None
    want_val = data.val is not None and any(j.spec.shrink for j in jobs)  # +shrink chooses λ on validation outputs
    for r in rules:
        if r != "last":
            P.assign(best[r]["params"], range(M))
        outs[r] = _per_model(method.predict(P, data.test.all()[0]), data.test.n)
        vals[r] = _per_model(method.predict(P, data.val.all()[0]), data.n_val) if want_val else [None] * M
        if final is not None:
            P.assign(final, range(M))
    results = []
    for p, j in enumerate(parents):
        i, mine = first[p], [k for k, o in enumerate(owner) if o == p]
        share = seconds * len(mine)
        rows, pred, extra = [], None, {}
        for r in rules:
            out_r = outs[r][i] if len(mine) == 1 else task.combine([outs[r][k] for k in mine])
            val_r = vals[r][i] if len(mine) == 1 or vals[r][i] is None else task.combine([vals[r][k] for k in mine])
            for row in task.evaluate(j.fold, out_r, j.cfg, pc=j.spec.pc, shrink_to=j.spec.shrink, val=val_r):
                if pred is None:
                    pred = row.get("_pred")
                    extra = {k[1:]: v for k, v in row.items() if k.startswith("_") and k != "_pred"}
                rows.append({**j.tag, "select": r, **_public(row), "seconds": share, "stack": M,
                             "stack_seconds": wall})
        res = Result(j, rows, {r: int(best[r]["epoch"][i]) if r != "last" else n_epochs for r in rules}, False,
                     share, pred, extra)
        emit(E.make("fold", j.tag, metrics={m: rows[0].get(m) for m in task.metrics}, rows=rows,
                    best_epochs=res.best_epochs, seconds=share, stopped=False,
                    watch_pred=np.asarray(pred)[:len(data.watched[i][1])].tolist()
                    if data.watched[i] is not None and pred is not None else None))
        results.append(res)
    return results


def _n_members(job: ModelJob) -> int:
    return int(job.cfg.get("ensemble", 1))


def _members(jobs: Sequence[ModelJob]) -> list[ModelJob]:
    """Every job's ensemble members, in order: member 0 is the job; member m > 0 its copy seeded
    seed + m·MEMBER_OFFSET, tagged `member` m (what keeps its events off the run's record)."""
    return [j if m == 0 else replace(j, seed=j.seed + m * MEMBER_OFFSET, tag={**j.tag, "member": m})
            for j in jobs for m in range(_n_members(j))]


def _member_zero(emit: Emit) -> Emit:
    """Events of ensemble members m > 0 are dropped: a job's curves are its member 0's (the job trained alone)."""
    def out(ev: dict[str, Any]) -> None:
        if not ev.get("member"):
            emit(ev)
    return out


@dataclass
class _StackData:
    """A stack's rows on the device, each model's fold padded to the longest: train / validation / test features
    (`Rows`), the watched test samples of the replay, the padded training targets {name: (M, n_max, …)}, the
    batch size (a full-batch method: the largest fold) and the model index column (M, 1) batches gather with."""
    train: Rows
    val: Rows | None
    n_val: list[int]
    test: Rows
    watch: Rows | None
    watched: list  # per model: (feature rows, true targets) of its watched samples, or None
    targets: dict[str, torch.Tensor]
    batch: int
    model_ids: torch.Tensor

    @classmethod
    def of(cls, task: Task, jobs: Sequence[ModelJob], device: torch.device, batch: int,
           full_batch: bool) -> "_StackData":
        train = Rows([j.fold.x["train"] for j in jobs], device, False if full_batch else None)
        n_val = [j.fold.n("val") for j in jobs]
        watched = [task.watch(j.fold) for j in jobs]
        return cls(
            train=train, n_val=n_val,
            val=Rows([j.fold.x["val"] for j in jobs], device, train.sparse) if any(n_val) else None,
            test=Rows([j.fold.x["test"] for j in jobs], device, train.sparse),
            watched=watched,
            watch=Rows([w[0] for w in watched], device, train.sparse) if all(w is not None for w in watched) else None,
            targets={k: pad([j.fold.y["train"][k] for j in jobs], device, fill=task.pad.get(k, 0.0))
                     for k in jobs[0].fold.y["train"]},
            batch=batch, model_ids=torch.arange(len(jobs), device=device)[:, None])

    def batch_of(self, rows: torch.Tensor, mask: torch.Tensor, counts: list[int], noise_gens) -> Batch:
        """The batch of training rows `rows` (M, B) (`mask` the real ones, `counts` their number per model);
        noise drawn from each model's own stream."""
        M, B = rows.shape
        device = rows.device

        def noise(h: int) -> torch.Tensor:
            """(M, B, h) standard normal, each model's real rows drawn from its own stream (as if alone)."""
            out = torch.zeros(M, B, h)
            for i, c in enumerate(counts):
                if c:
                    out[i, :c] = torch.randn((c, h), generator=noise_gens[i])
            return out.to(device)

        return Batch(x=self.train.take(rows), y={k: v[self.model_ids, rows] for k, v in self.targets.items()},
                     mask=mask, noise=noise)


@torch.no_grad()
def _end_of_epoch(task: Task, method, jobs: Sequence[ModelJob], P: Params, data: _StackData, rules: list[str],
                  best: dict[str, dict], *, epoch: int, steps: np.ndarray, sums: list[dict[str, float]], emit: Emit,
                  diagnostic: bool) -> None:
    """Validation record → every rule's running best (checkpoints), the `epoch` events (mean training terms),
    the replay's `snapshot` and, with `diagnostic`, the test metrics as `diag` events."""
    M = len(jobs)
    recs = [{} for _ in range(M)]
    if data.val is not None:
        outs = _per_model(method.predict(P, data.val.all()[0]), data.n_val)
        recs = [task.val_record(j.fold, o) if data.n_val[i] else {} for i, (j, o) in enumerate(zip(jobs, outs))]
    improved_primary = np.zeros(M, bool)
    for r in rules:
        b = best[r]
        scores = np.array([S.score(r, epoch, rec) if (rec or r == "last") else -float(epoch) for rec in recs])
        imp = scores < b["score"]
        b["score"] = np.where(imp, scores, b["score"])
        b["epoch"] = np.where(imp, epoch, b["epoch"])
        if b["params"] is not None and imp.any():
            copy_models(P, b["params"], np.nonzero(imp)[0].tolist())
        if r == rules[0]:
            improved_primary = imp
    n_batches = [max(1, math.ceil(n / data.batch)) for n in data.train.n]
    for i, j in enumerate(jobs):
        emit(E.make("epoch", j.tag, epoch=epoch, step=int(steps[i]), **recs[i],
                    **{f"train_{k}": v / n_batches[i] for k, v in sums[i].items()}, best=bool(improved_primary[i])))
    if data.watch is not None:
        preds = _per_model(method.predict(P, data.watch.all()[0]), data.watch.n)
        for i, j in enumerate(jobs):
            emit(E.make("snapshot", j.tag, epoch=epoch, pred=np.asarray(preds[i]).tolist()))
    if diagnostic:  # shown to the learner; no rule reads it
        outs = _per_model(method.predict(P, data.test.all()[0]), data.test.n)
        for i, j in enumerate(jobs):
            emit(E.make("diag", j.tag, epoch=epoch, step=int(steps[i]), note=E.DIAG_NOTE,
                        **task.diag(j.fold, outs[i], j.cfg)))


def constant_results(task: Task, jobs: Sequence[ModelJob], emit: Emit = _noop) -> list[Result]:
    """The constant predictors (ldl): no training, one row per fold."""
    out = []
    for j in jobs:
        row = next(r for r in task.constants(j.fold) if r["method"] == j.spec.base)
        res = Result(j, [{**j.tag, **_public(row)}], {}, False, 0.0, row.get("_pred"))
        emit(E.make("fold", j.tag, metrics={m: row.get(m) for m in task.metrics}, rows=res.rows, best_epochs={},
                    seconds=0.0, stopped=False))
        out.append(res)
    return out


def execute(task: Task, jobs: Sequence[ModelJob], *, device: torch.device, emit: Emit = _noop,
            stop: threading.Event | None = None, select: Sequence[str] = (S.DEFAULT,), diagnostic: bool = False,
            batched: bool = True, chunk_folds: int | None = None, step_events: bool = True, pace: float = 0.0,
            on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Train every job: constants first (instant), then the trained jobs grouped into stacks (`batched`) or
    one by one. `chunk_folds` trains that many folds per stack, so that tables fill in as folds finish."""
    results: list[Result] = []

    def done(rs: list[Result]) -> None:
        for r in rs:
            results.append(r)
            if on_result is not None:
                on_result(r)

    done(constant_results(task, [j for j in jobs if j.spec.constant], emit))
    trained = [j for j in jobs if not j.spec.constant]
    stacks: dict[tuple, list[ModelJob]] = {}
    for j in trained:
        stacks.setdefault(stack_key(j) if batched else (id(j),), []).append(j)
    for group in stacks.values():
        fold_ids = list(dict.fromkeys(j.fold.id for j in group))
        step = chunk_folds or len(fold_ids)
        for c in range(0, len(fold_ids), step):
            part = [j for j in group if j.fold.id in set(fold_ids[c:c + step])]
            if stop is not None and stop.is_set():
                return results
            rs = train(task, part, device=device, emit=emit, stop=stop, select=select, diagnostic=diagnostic,
                       step_events=step_events, pace=pace)
            done(rs)
            if any(r.stopped for r in rs):
                return results
    return results


def model_seed(run_seed: int, fold_id: int) -> int:
    """The seed of a model trained on fold `fold_id` of a run seeded `run_seed` (initialisation, batch order,
    noise): the same for a method run, a study configuration and a reference row, so they are comparable."""
    return run_seed * 1000 + fold_id


def make_jobs(task: Task, folds: Sequence[Fold], dims: dict[str, int], methods: Sequence[str],
              settings: dict[str, dict[str, Any]] | None, seed: int, tag: dict[str, Any] | None = None) -> list[ModelJob]:
    """Jobs for methods × folds. `settings` maps a method name (or its base name) to parameter overrides,
    type-checked here — before any training."""
    settings = settings or {}
    jobs = []
    for name in methods:
        spec = parse(name, task.name)
        cfg = spec.config(settings.get(spec.name, settings.get(spec.base)))
        for f in folds:
            jobs.append(ModelJob(spec, cfg, f, model_seed(seed, f.id), {**(tag or {}), "method": spec.name, "fold": f.id},
                            dims))
    return jobs
