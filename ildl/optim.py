"""Optimisers and gradient clipping on stacked parameters (M, …), every hyper-parameter a per-model column.

Elementwise, so M models train as one computation, each exactly as it would alone: a model without a batch
at a step (its fold is shorter) is left untouched — no decay, no moment update, no step count. The formulas
are PyTorch's (`torch.optim.AdamW` with `amsgrad`, `torch.optim.SGD` with momentum, dampening 0), tested
against them for M = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from .stack import bcast


def clip_coef(grads: Sequence[torch.Tensor], max_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(coef, norm), each (M,): torch.nn.utils.clip_grad_norm_'s min(1, max_norm / (‖g‖ + 1e-6)) per model,
    ‖g‖ over every tensor of the group. max_norm (M,) may hold inf (no clipping)."""
    norm = torch.stack([g.reshape(g.shape[0], -1).norm(dim=1) for g in grads]).norm(dim=0)
    return (max_norm / (norm + 1e-6)).clamp(max=1.0), norm


@dataclass
class Clip:
    """Per-model gradient clipping of one parameter group.

    `fixed`: cap the group's norm at `factor`. `adaptive` (the RDA reference code): cap it at `factor` × the
    largest of the last five recorded norms (no cap before the first record), then record
    min(norm, 2 × that largest, 1.0). factor 0 = off."""
    factor: torch.Tensor  # (M,)
    rule: str = "fixed"
    queue: torch.Tensor | None = None  # (M, 5) recorded norms, adaptive only

    def __call__(self, grads: list[torch.Tensor], active: torch.Tensor) -> torch.Tensor:
        M = self.factor.shape[0]
        on = self.factor > 0
        if self.rule == "adaptive":
            if self.queue is None:
                self.queue = torch.full((M, 5), float("inf"), device=self.factor.device)
            largest = self.queue.max(1).values
            coef, norm = clip_coef(grads, largest * self.factor)
            rec = torch.minimum(torch.minimum(norm, largest * 2.0), torch.ones_like(norm))
            rolled = torch.cat([self.queue[:, 1:], rec[:, None]], 1)
            self.queue = torch.where((active & on)[:, None], rolled, self.queue)
        else:
            coef, norm = clip_coef(grads, self.factor)
        coef = torch.where(on, coef, torch.ones_like(coef))
        for g in grads:
            g.mul_(bcast(coef, g))
        return norm


@dataclass
class AdamW:
    """torch.optim.AdamW per model: p ← p(1 − η·λ); m, v moments; amsgrad keeps the running max of v."""
    params: list[torch.Tensor]
    lr: torch.Tensor  # (M,)
    weight_decay: list[torch.Tensor]  # (M,) per parameter tensor (weights and biases may differ)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    amsgrad: bool = False
    t: torch.Tensor | None = None
    state: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def __post_init__(self):
        self.t = torch.zeros_like(self.lr)
        self.state = [dict(m=torch.zeros_like(p), v=torch.zeros_like(p),
                           **({"vmax": torch.zeros_like(p)} if self.amsgrad else {})) for p in self.params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        b1, b2 = self.betas
        t = torch.where(active, self.t + 1, self.t)
        self.t = t
        ts = t.clamp_min(1)
        bc1, bc2 = 1 - b1 ** ts, 1 - b2 ** ts
        for p, g, wd, st in zip(self.params, grads, self.weight_decay, self.state):
            a = bcast(active, p)
            lr, c1, c2 = bcast(self.lr, p), bcast(bc1, p), bcast(bc2, p)
            p_new = p * (1 - lr * bcast(wd, p))
            m = torch.where(a, b1 * st["m"] + (1 - b1) * g, st["m"])
            v = torch.where(a, b2 * st["v"] + (1 - b2) * g * g, st["v"])
            st["m"], st["v"] = m, v
            if self.amsgrad:
                st["vmax"] = torch.where(a, torch.maximum(st["vmax"], v), st["vmax"])
                v = st["vmax"]
            p_new = p_new - (lr / c1) * m / (v.sqrt() / c2.sqrt() + self.eps)
            p.copy_(torch.where(a, p_new, p))


@dataclass
class SGD:
    """Heavy-ball SGD per model (torch.optim.SGD, dampening 0): g ← g + λp; v ← μv + g; p ← p − ηv.
    μ (M,) is read at every step, so a method may move it (AMEMA's adaptive momenta)."""
    params: list[torch.Tensor]
    lr: torch.Tensor  # (M,)
    momentum: torch.Tensor  # (M,)
    weight_decay: torch.Tensor  # (M,)
    bufs: list[torch.Tensor] = field(default_factory=list)

    def __post_init__(self):
        self.bufs = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        for i, (p, g) in enumerate(zip(self.params, grads)):
            a = bcast(active, p)
            d = g + bcast(self.weight_decay, p) * p
            v = torch.where(a, bcast(self.momentum, p) * self.bufs[i] + d, self.bufs[i])
            self.bufs[i] = v
            p.copy_(torch.where(a, p - bcast(self.lr, p) * v, p))


@dataclass
class Group:
    """A parameter group: the names it owns, its optimiser and its clipping (both per model)."""
    names: list[str]
    opt: AdamW | SGD
    clip: Clip | None = None
