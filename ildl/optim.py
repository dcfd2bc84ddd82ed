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


@dataclass
class RowGrad:
    """The gradient of a stacked weight (M, in, out) that is zero outside `rows` (U,) of its flat (M·in, out)
    table: `grad` (U, out). Row r belongs to model r // in."""
    rows: torch.Tensor
    grad: torch.Tensor
    d_in: int
    M: int

    @property
    def model(self) -> torch.Tensor:
        return torch.div(self.rows, self.d_in, rounding_mode="floor")

    def sumsq(self) -> torch.Tensor:
        """(M,) Σ g² per model."""
        out = torch.zeros(self.M, dtype=self.grad.dtype, device=self.grad.device)
        return out.index_add_(0, self.model, self.grad.pow(2).sum(1))


def _sumsq(g) -> torch.Tensor:
    return g.sumsq() if isinstance(g, RowGrad) else g.reshape(g.shape[0], -1).pow(2).sum(1)


def clip_coef(grads: Sequence[torch.Tensor], max_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(coef, norm), each (M,): torch.nn.utils.clip_grad_norm_'s min(1, max_norm / (‖g‖ + 1e-6)) per model,
    ‖g‖ over every tensor of the group (a `RowGrad` counts its rows). max_norm (M,) may hold inf (no clipping)."""
    if any(isinstance(g, RowGrad) for g in grads):
        norm = torch.stack([_sumsq(g) for g in grads]).sum(0).sqrt()
    else:
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

    def __init__(self, tensors: list[torch.Tensor], active: torch.Tensor, host: list[bool] | None = None):
        if host is not None:  # known on the host: no read from the device
            idle = [i for i, a in enumerate(host) if not a]
            self.idle = torch.tensor(idle, device=active.device) if idle else None
        else:
            self.idle = (~active).nonzero().flatten() if not bool(active.all()) else None
        self.saved = [t[self.idle].clone() for t in tensors] if self.idle is not None else []
        self.tensors = tensors

    def restore(self) -> None:
        for t, v in zip(self.tensors, self.saved):
            t[self.idle] = v


FUSED_ADAMW = hasattr(torch, "_fused_adamw_")
_FUSED_ON: dict[str, bool] = {}


def fused_adamw_on(device_type: str) -> bool:
    """Whether this torch has the fused AdamW kernel for the device type (CPU's arrived after CUDA's, in torch 2.4):
    tried once on a one-element tensor, so an older torch falls back to the elementwise update instead of failing."""
    if device_type not in _FUSED_ON:
        ok = FUSED_ADAMW
        if ok:
            try:
                dev = torch.device(device_type)
                t = [torch.zeros(1, device=dev)]
                torch._fused_adamw_(t, [torch.ones(1, device=dev)], [torch.zeros(1, device=dev)],
                                    [torch.zeros(1, device=dev)], [], [torch.ones((), device=dev)], lr=0.1, beta1=0.9,
                                    beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
            except (RuntimeError, NotImplementedError, TypeError):
                ok = False
        _FUSED_ON[device_type] = ok
    return _FUSED_ON[device_type]


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
    host_active: list[bool] | None = None  # set by the trainer before a step: the active models, known on the host
    state: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def __post_init__(self):
        self._host: tuple | None = None  # η and λ per model as numbers, for the fused kernel (read once)
        self.t = torch.zeros_like(self.lr)
        self.state = [dict(m=torch.zeros_like(p), v=torch.zeros_like(p),
                           **({"vmax": torch.zeros_like(p)} if self.amsgrad else {})) for p in self.params]
        self.fused = all(p.dtype == torch.float32 and p.device.type in ("cpu", "cuda") and fused_adamw_on(p.device.type)
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
        keep = _Keep([x for p, st in zip(self.params, self.state) for x in (p, *st.values())], active, self.host_active)
        self.t = torch.where(active, self.t + 1, self.t)
        ts = self.t.clamp_min(1)
        step_size = self.lr / (1 - b1 ** ts)  # (M,)
        bc2_sqrt = (1 - b2 ** ts).sqrt()
        for p, g, wd, st in zip(self.params, grads, self.weight_decay, self.state):
            if scale is not None:
                g = g.mul(bcast(scale, g))
            if bool((wd != 0).any()):  # the unfused path (no fused kernel, or float64): a read per step is fine there
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
        # the fused kernel takes η, λ as numbers and a list of tensors: read from the device once, not per step
        # (they are constant), and which models step from the host copy the engine passes (`host_active`)
        act = self.host_active if self.host_active is not None else active.tolist()
        if self._host is None:
            self._host = (self.lr.tolist(), [w.tolist() for w in self.weight_decay])
        lrs, wds = self._host
        calls: dict[tuple[float, float], tuple[list, ...]] = {}
        for k, g in enumerate(grads):
            if scale is not None:
                g = g * bcast(scale, g)
            gv = g.unbind(0)
            pv, mv, vv, xv = self._views[k]
            wd = wds[k]
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
    host_active: list[bool] | None = None  # set by the trainer before a step (see AdamW)

    def __post_init__(self):
        self.bufs = [torch.zeros_like(p) for p in self.params]
        self.lazy = [None] * len(self.params)  # per parameter: the step each flat row was last brought up to
        self.touched = [None] * len(self.params)  # rows that ever had a gradient (the others have v = 0: never move)
        self._stash: dict[int, tuple] = {}  # rows fetched for the forward pass, with their synced values
        self.window: list[tuple[torch.Tensor, torch.Tensor]] = []  # (μ_t, active_t) of the steps since a full sync
        self._cache: tuple | None = None  # the window factors for the current window length
        self._decay: bool | None = None  # any weight decay (constant; read from the device once)

    # -- lazy rows ----------------------------------------------------------------------------------------------
    # A row whose gradient is zero for a while still moves: v ← μ_t v, p ← p − η v each step. Over the steps
    # t0+1…t of the window, v_t = D(t0)·v_t0 and p_t = p_t0 − η·A(t0)·v_t0 with
    #   D(t0) = Π_{j=t0+1..t} μ_j,   A(t0) = Σ_{k=t0+1..t} a_k Π_{j=t0+1..k} μ_j   (a_k = 1 if the model stepped)
    # — computed backwards, D(t0) = μ_{t0+1}·D(t0+1), A(t0) = μ_{t0+1}·(a_{t0+1} + A(t0+1)), with no division, so
    # μ = 0 is fine. A model that sits a step out has μ = 1, a = 0 there: its rows do not move, as in `step`.
    def make_lazy(self, k: int) -> bool:
        """Let parameter k (a stacked weight (M, in, out)) take `RowGrad`s; only without weight decay (a decayed
        row would move with its own value, not only its momentum)."""
        if bool((self.weight_decay != 0).any()) or self.params[k].dim() != 3:
            return False
        p = self.params[k]
        self.lazy[k] = torch.zeros(p.shape[0] * p.shape[1], dtype=torch.long, device=p.device)
        self.touched[k] = torch.zeros(p.shape[0] * p.shape[1], dtype=torch.bool, device=p.device)
        return True

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """D, A (M, w+1) for every t0 = 0…w of the window (w steps): F64, so a long window keeps its digits.
        Computed once per window length (every lazy parameter of this optimiser shares the window)."""
        M = self.lr.shape[0]
        w = len(self.window)
        if self._cache is not None and self._cache[0] == w:
            return self._cache[1], self._cache[2]
        dev = self.lr.device
        D = torch.ones(M, w + 1, dtype=torch.float64, device=dev)
        A = torch.zeros(M, w + 1, dtype=torch.float64, device=dev)
        for t0 in range(w - 1, -1, -1):
            mu, a = self.window[t0]
            D[:, t0] = mu * D[:, t0 + 1]
            A[:, t0] = mu * (a + A[:, t0 + 1])
        self._cache = (w, D, A)
        return D, A

    def _synced(self, k: int, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameter k's rows (U, out) and their momenta, brought up to the current step (not written back)."""
        p, v = self.params[k], self.bufs[k]
        d_in, d_out = p.shape[1], p.shape[2]
        pr, vr = p.view(-1, d_out)[rows], v.view(-1, d_out)[rows]
        if not self.window:
            return pr, vr
        D, A = self._factors()
        m = torch.div(rows, d_in, rounding_mode="floor")
        t0 = self.lazy[k][rows]
        dec = D[m, t0].to(vr.dtype)[:, None]  # the factors in float64, applied in the parameters' precision
        step = (self.lr.double()[m] * A[m, t0]).to(vr.dtype)[:, None]
        return pr - step * vr, vr * dec

    @torch.no_grad()
    def fetch(self, k: int, rows: torch.Tensor) -> torch.Tensor:
        """Parameter k's rows (U, out), up to date, for a forward pass; the next `step` with a `RowGrad` on the same
        rows starts from them (one gather per row set and step, not two)."""
        pr, vr = self._synced(k, rows)
        self._stash[k] = (rows, pr, vr)
        return pr

    @torch.no_grad()
    def _sync_rows(self, k: int) -> None:
        """Bring parameter k's rows with a momentum (the others cannot move) up to the current step, in place."""
        if self.lazy[k] is None or not self.window:
            return
        rows = self.touched[k].nonzero().squeeze(1)
        if not len(rows):
            return
        pr, vr = self._synced(k, rows)
        d_out = self.params[k].shape[2]
        self.params[k].view(-1, d_out)[rows] = pr
        self.bufs[k].view(-1, d_out)[rows] = vr
        self.lazy[k][rows] = len(self.window)

    @torch.no_grad()
    def sync(self) -> None:
        """Every row of every lazy parameter up to the current step; the window starts again."""
        for k, last in enumerate(self.lazy):
            if last is not None:
                self._sync_rows(k)
                last.zero_()
        self.window = []
        self._cache = None

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor, scale: torch.Tensor | None = None) -> None:
        """One step of the active models; `scale` (M,) multiplies the gradients first (clipping). A `RowGrad`
        updates its rows now (brought up to date first) and leaves the others to the window."""
        lazy = [k for k, g in enumerate(grads) if isinstance(g, RowGrad)]
        for k in lazy:
            g = grads[k]
            stash = self._stash.pop(k, None)
            pr, vr = stash[1:] if stash is not None and stash[0] is g.rows else self._synced(k, g.rows)
            p, v = self.params[k], self.bufs[k]
            T, V = p.view(-1, p.shape[2]), v.view(-1, p.shape[2])
            m = g.model
            on = active[m][:, None]
            gr = g.grad * (scale[m][:, None] if scale is not None else 1.0)
            vr = torch.where(on, vr * self.momentum[m][:, None] + gr, vr)
            V[g.rows] = vr
            T[g.rows] = torch.where(on, pr - self.lr[m][:, None] * vr, pr)
            self.lazy[k][g.rows] = len(self.window) + 1
            self.touched[k][g.rows] = True
        if any(x is not None for x in self.lazy):
            self.window.append((torch.where(active, self.momentum, torch.ones_like(self.momentum)).double(),
                                active.double()))
        dense = [k for k in range(len(grads)) if k not in lazy]
        keep = _Keep([*(self.params[k] for k in dense), *(self.bufs[k] for k in dense)], active, self.host_active)
        if self._decay is None:
            self._decay = bool((self.weight_decay != 0).any())
        decay = self._decay
        for k in dense:
            p, g, v = self.params[k], grads[k], self.bufs[k]
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
    """A parameter group: the names it owns, its optimiser and its clipping (both per model), and a label a method
    finds it by (AMEMA's branches "s" / "ns")."""
    names: list[str]
    opt: AdamW | SGD
    clip: Clip | None = None
    label: str = ""


def group(groups: list[Group], label: str) -> Group:
    return next(g for g in groups if g.label == label)
