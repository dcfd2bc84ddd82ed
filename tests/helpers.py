"""Test helpers: drive a method's stacked maths directly (a Trainer and hand-made batches with known noise)."""
from __future__ import annotations

import numpy as np
import torch

from ildl.engine import Trainer
from ildl.methods import Batch, parse
from ildl.stack import Params

CPU = torch.device("cpu")


def ldl_stats(C=4, n=30, seed=0):
    y = np.random.default_rng(seed).dirichlet(np.ones(C), n)
    return dict(label_mass=y.sum(0), prior=y.mean(0), n=float(n))


def trainer(name, overrides=None, *, M=1, dims=None, stats=None, seeds=None, task_stats=None):
    """M models of a registry method; overrides may be one dict (all models) or a list (one per model)."""
    spec = parse(name)
    ovs = overrides if isinstance(overrides, list) else [overrides or {}] * M
    cfgs = [spec.config(o) for o in ovs]
    task = spec.task
    if dims is None:
        dims = {"ldl": dict(d=6, C=4, n=12), "dir": dict(d=6, G=5), "lt": dict(d=6, C=4)}[task]
    if stats is None:
        if task == "ldl":
            stats = ldl_stats(dims["C"])
        elif task == "dir":
            stats = dict(group_prior=np.array([0.4, 0.3, 0.15, 0.1, 0.05]), n=30.0)
        else:
            stats = dict(prior=np.array([0.5, 0.3, 0.15, 0.05]), n=30.0)
    return Trainer(spec.entry.cls, cfgs, [stats] * len(cfgs), dims, seeds or list(range(len(cfgs))), CPU)


def batch(x, y: dict, mask=None, eps=None):
    """x (M, B, d); y {field: (M, B, …)}; eps: a list of fixed noise tensors handed out in order."""
    M, B = x.shape[:2]
    mask = torch.ones(M, B, dtype=torch.bool) if mask is None else mask
    queue = list(eps or [])

    def noise(h):
        return queue.pop(0) if queue else torch.zeros(M, B, h)

    return Batch(x=x, y=y, mask=mask, noise=noise)


def lin(P: Params, name: str, v: torch.Tensor, m: int = 0) -> torch.Tensor:
    """Model m's nn.Linear applied the plain way: v (B, in) @ W + b (independent of ildl.stack.linear)."""
    return v @ P[name + ".weight"][m].detach() + P[name + ".bias"][m].detach()


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def dist(*shape, seed=0, sharp=2.0):
    return torch.softmax(sharp * torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), -1)


def first_ldl_fold(data, **run):
    """Fold 0 of an LDL run config (resolved as the runner resolves it, its task options included) on `data`."""
    from ildl import runner
    from ildl.tasks import get

    task, cfg = get("ldl"), runner.resolve(dict(dict(dataset="synthetic", methods=["ldl-kl+shrink"], folds=5), **run))
    return task, task.folds(data, cfg, {p.name: cfg[p.name] for p in task.options})[0]
