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
        """The per-model factor (M,) the optimiser scales the gradients by (1 where clipping is off)."""
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
        return torch.where(on, coef, torch.ones_like(coef))


class _Keep:
    """Saves the slices of the models that sit out this step and puts them back afterwards, so an update can run
    in place over the whole stack (the common case: every model has a batch, nothing is saved)."""

    def __init__(self, tensors: list[torch.Tensor], active: torch.Tensor):
        self.idle = (~active).nonzero().flatten() if not bool(active.all()) else None
        self.saved = [t[self.idle].clone() for t in tensors] if self.idle is not None else []
        self.tensors = tensors

    def restore(self) -> None:
        for t, v in zip(self.tensors, self.saved):
            t[self.idle] = v


FUSED_ADAMW = hasattr(torch, "_fused_adamw_")


@dataclass
class AdamW:
    """torch.optim.AdamW per model: p ← p(1 − η·λ); m ← lerp(m, g, 1 − β1); v ← β2 v + (1 − β2) g²; amsgrad
    keeps max(v); p ← p − η/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε).

    Where PyTorch has it, each model's slices go through PyTorch's fused AdamW kernel (the kernel of
    `torch.optim.AdamW(fused=True)`; 5× fewer passes over memory than separate in-place ops), grouped by the
    models' (η, λ) values; a model without a batch is left out of the call, so its step count and moments stay."""
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
        self.fused = FUSED_ADAMW and all(p.dtype == torch.float32 and p.device.type in ("cpu", "cuda")
                                         for p in self.params)
        if self.fused:  # per-model views of every stacked tensor (in-place updates keep them valid)
            M = self.lr.shape[0]
            self._views = [(p.unbind(0), st["m"].unbind(0), st["v"].unbind(0),
                            st["vmax"].unbind(0) if self.amsgrad else None) for p, st in zip(self.params, self.state)]
            self._steps = [[torch.zeros((), device=p.device) for _ in range(M)] for p in self.params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor, scale: torch.Tensor | None = None) -> None:
        """One step of the active models; `scale` (M,) multiplies the gradients first (clipping)."""
        if self.fused:
            return self._step_fused(grads, active, scale)
        b1, b2 = self.betas
        keep = _Keep([x for p, st in zip(self.params, self.state) for x in (p, *st.values())], active)
        self.t = torch.where(active, self.t + 1, self.t)
        ts = self.t.clamp_min(1)
        step_size = self.lr / (1 - b1 ** ts)  # (M,)
        bc2_sqrt = (1 - b2 ** ts).sqrt()
        for p, g, wd, st in zip(self.params, grads, self.weight_decay, self.state):
            if scale is not None:
                g = g.mul(bcast(scale, g))
            if bool((wd != 0).any()):
                p.mul_(bcast(1 - self.lr * wd, p))
            st["m"].lerp_(g, 1 - b1)
            st["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
            v = st["v"]
            if self.amsgrad:
                torch.maximum(st["vmax"], v, out=st["vmax"])
                v = st["vmax"]
            denom = v.sqrt().div_(bcast(bc2_sqrt, p)).add_(self.eps)
            p.addcdiv_(st["m"] * bcast(step_size, p), denom, value=-1.0)
        keep.restore()

    def _step_fused(self, grads, active, scale) -> None:
        act = active.tolist()
        lrs = self.lr.tolist()
        calls: dict[tuple[float, float], tuple[list, ...]] = {}
        for k, g in enumerate(grads):
            if scale is not None:
                g = g * bcast(scale, g)
            gv = g.unbind(0)
            pv, mv, vv, xv = self._views[k]
            wd = self.weight_decay[k].tolist()
            for i, a in enumerate(act):
                if not a:
                    continue
                lists = calls.setdefault((lrs[i], wd[i]), ([], [], [], [], [], []))
                for lst, t in zip(lists, (pv[i], gv[i], mv[i], vv[i], xv[i] if xv is not None else None,
                                          self._steps[k][i])):
                    if t is not None:
                        lst.append(t)
        for (lr, wd), (ps, gs, ms, vs, xs, steps) in calls.items():
            torch._foreach_add_(steps, 1)  # as torch.optim.AdamW does: the kernel reads the incremented count
            torch._fused_adamw_(ps, gs, ms, vs, xs, steps, lr=lr, beta1=self.betas[0], beta2=self.betas[1],
                                weight_decay=wd, eps=self.eps, amsgrad=self.amsgrad, maximize=False)


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
    def step(self, grads: list[torch.Tensor], active: torch.Tensor, scale: torch.Tensor | None = None) -> None:
        """One step of the active models; `scale` (M,) multiplies the gradients first (clipping)."""
        keep = _Keep([*self.params, *self.bufs], active)
        decay = bool((self.weight_decay != 0).any())
        for p, g, v in zip(self.params, grads, self.bufs):
            v.mul_(bcast(self.momentum, v))
            if scale is not None:
                v.addcmul_(g, bcast(scale, g))  # the clipped gradient, without a pass of its own
            else:
                v.add_(g)
            if decay:
                v.addcmul_(p, bcast(self.weight_decay, p))
            p.addcmul_(v, bcast(self.lr, p), value=-1.0)
        keep.restore()


@dataclass
class Group:
    """A parameter group: the names it owns, its optimiser and its clipping (both per model)."""
    names: list[str]
    opt: AdamW | SGD
    clip: Clip | None = None
