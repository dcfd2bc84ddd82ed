"""The one Method protocol, for every task: a method writes its maths once, over a stack of M models.

A method declares its knobs (`params`, on top of its task's common ones), builds *one* model as ordinary
`nn.Module`s (the trainer builds M of them, each under its own seed, and stacks their parameters — see
`ildl.stack`), and then works on stacked tensors only:

  loss(P, batch, state)  → a `Loss`: logged terms {name: (M,)} ("loss" the reported one), the new state, the
                           objective the optimiser minimises when it is not "loss" (AMEMA's unweighted
                           variant, RDA's self-normalised loss), auxiliaries for after_step
  groups(P)              → parameter groups: names, optimiser, clipping (per-model hyper-parameters)
  predict(P, x)          → outputs for a stack of feature rows (M, n, …)
A full-batch method (the classic learners) has its own solver instead: iterate(P, batch) → terms.

`batch` carries x (M, B, d) or sparse rows, the targets (M, B, …), the mask (M, B) of real rows (folds of
different sizes are padded) and per-model noise. Per-model hyper-parameters are columns (M,) from `col`;
what a model may know about its own training part is in `self.stats[i]` (stacked with `stat`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..config import COMMON, Param
from ..optim import AdamW, Clip, Group
from ..selection import PRIOR_FLOOR
from ..stack import Params, Sparse, masked_mean


@dataclass
class Loss:
    """What `Method.loss` returns for a stack of M models.

    terms      every logged term (M,), "loss" among them: the step events and the live charts show these
    state      the method's new per-model state (EMAs, …), kept only for the models that stepped
    objective  (M,) what the optimiser minimises when it is not terms["loss"] (AMEMA's unweighted variant,
               RDA's self-normalised total); None: terms["loss"]
    aux        values for `after_step` only, never logged (AMEMA's δ)
    """
    terms: dict[str, torch.Tensor]
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    objective: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def minimised(self) -> torch.Tensor:
        return self.terms["loss"] if self.objective is None else self.objective


@dataclass
class Batch:
    """One step's data for a stack: x (M, B, d) or Sparse, targets {name: (M, B, …)}, mask (M, B)."""
    x: torch.Tensor | Sparse
    y: dict[str, torch.Tensor]
    mask: torch.Tensor
    noise: Callable[[int], torch.Tensor] = field(default=lambda h: None)  # h → (M, B, h) N(0, 1), per-model streams

    def mean(self, v: torch.Tensor) -> torch.Tensor:
        """Mean over each model's real rows: (M, B, …) → (M,)."""
        return masked_mean(v, self.mask)


class StackConfig(dict):
    """The config a stack shares (model 0's), refusing the keys whose values differ between its models: Python
    that branches on such a key would give every model model 0's value. Read those per model (`col`, `flag`), or
    declare the key in `shape_keys` so the engine never stacks different values."""

    def __init__(self, cfg: dict[str, Any], varying: set[str], owner: str):
        super().__init__(cfg)
        self._varying, self._owner = varying, owner

    def _check(self, key: str) -> None:
        if key in self._varying:
            raise ValueError(f"{self._owner}: '{key}' differs between the models of this stack; read it per model "
                             "(Method.col / Method.flag) or declare it in shape_keys")

    def __getitem__(self, key: str) -> Any:
        self._check(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._check(key)
        return super().get(key, default)


class Method:
    name: ClassVar[str]
    task: ClassVar[str] = "ldl"
    title: ClassVar[str] = ""  # one line for pickers
    paper: ClassVar[str] = ""  # "Authors. Title. Venue, year."
    params: ClassVar[tuple[Param, ...]] = ()  # method-specific knobs (the task's COMMON ones are added)
    defaults: ClassVar[dict[str, Any]] = {}  # overrides of COMMON defaults (e.g. AMEMA's batch 64, 50 epochs)
    preset: ClassVar[dict[str, Any]] = {}  # fixed values of `params` for a registry name (e.g. group-soft)
    step_terms: ClassVar[tuple[str, ...]] = ("loss",)  # the per-step scalars `loss` returns (logged, charted)
    shape_keys: ClassVar[tuple[str, ...]] = ("epochs", "batch_size", "hidden")  # must agree within a stack
    outputs: ClassVar[str] = "distribution"  # what predict returns: distribution | logits | regression
    family: ClassVar[str] = ""  # a group of the comparison tables: "classic" | "ildl" | "" (the task's baselines)
    # A full-batch method (the classic learners) is fitted by its own solver: every epoch is one solver iteration
    # over the whole training fold in a fixed order (`iterate`), on dense float64 rows; the task's minibatch
    # knobs it never reads are left out of its schema.
    # First-layer weights fed by the raw features: on sparse rows their gradient has only the rows a batch touches
    # and (with heavy-ball SGD, no weight decay) the other rows move lazily, exactly (`ildl.optim.SGD.fetch`, `SGD.sync`).
    sparse_rows: ClassVar[tuple[str, ...]] = ()
    full_batch: ClassVar[bool] = False
    unused: ClassVar[tuple[str, ...]] = ()
    dtype: ClassVar[torch.dtype] = torch.float32

    @classmethod
    def schema(cls) -> tuple[Param, ...]:
        """The task's common knobs (minus `unused`; a method's own declaration of a common name replaces it, in
        place — a classic learner's `epochs` counts solver iterations), then the method's own, minus the preset."""
        own = {p.name: p for p in cls.params}
        common = tuple(own[p.name] if p.name in own else
                       Param(p.name, p.kind, cls.defaults.get(p.name, p.default), p.help, p.min, p.max, p.step,
                             p.choices, p.log) for p in COMMON[cls.task] if p.name not in cls.unused)
        names = {p.name for p in common}
        return common + tuple(p for p in cls.params if p.name not in cls.preset and p.name not in names)

    def __init__(self, cfgs: Sequence[dict[str, Any]], stats: Sequence[dict[str, Any]], dims: dict[str, int],
                 device: torch.device):
        self.cfgs = [{**c, **self.preset} for c in cfgs]
        self.M = len(cfgs)
        self.stats = list(stats)
        self.dims = dims  # d (features) and the output size (C labels, G groups, …)
        self.device = device
        for k in self.shape_keys:
            if len({repr(c.get(k)) for c in self.cfgs}) > 1:
                raise ValueError(f"{self.name}: one stack needs one value of {k!r}")
        varying = {k for k in self.cfgs[0] if len({repr(c.get(k)) for c in self.cfgs}) > 1}
        self.cfg = StackConfig(self.cfgs[0], varying, self.name)  # what the stack shares; per-model values: col/flag
        self.seeds = list(range(self.M))  # each model's seed (set by the trainer)

    # -- per-model columns ---------------------------------------------------------
    def col(self, key: str, dtype=torch.float32) -> torch.Tensor:
        return torch.tensor([float(c[key]) for c in self.cfgs], dtype=dtype, device=self.device)

    def flag(self, key: str, value: Any = True) -> torch.Tensor:
        """(M,) bool: cfg[key] == value per model (for switches that differ inside a stack)."""
        return torch.tensor([c[key] == value for c in self.cfgs], device=self.device)

    def adjust(self, z: torch.Tensor) -> torch.Tensor:
        """Logit adjustment for training (spec §3b): z + τ·log p_s, z (M, B, C), τ (M,) from `la_tau`, p_s each
        model's mean training distribution floored at PRIOR_FLOOR. The loss then only has to explain what the
        training prior does not, and `predict` (on the raw z) is aimed at a uniform prior. τ = 0 is a no-op."""
        if not any(c.get("la_tau", 0.0) for c in self.cfgs):
            return z
        log_ps = torch.log(self.stat("prior").clamp_min(PRIOR_FLOOR))  # (M, C)
        return z + self.col("la_tau")[:, None, None] * log_ps[:, None, :]

    def stat(self, key: str) -> torch.Tensor:
        """A training statistic of every model, stacked: (M, …) float32."""
        return torch.as_tensor(np.stack([np.asarray(s[key], np.float32) for s in self.stats]), device=self.device)

    # -- to implement --------------------------------------------------------------
    def build(self) -> nn.Module:
        """One model's modules (called once per model, under that model's seed)."""
        raise NotImplementedError

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        raise NotImplementedError

    def iterate(self, P: Params, b: Batch) -> dict[str, torch.Tensor]:
        """A full-batch method's one solver iteration on the whole fold (b holds every training row, the same order
        each call): updates P in place and returns its terms (M,) — "loss" the objective it decreases."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, P: Params, x) -> torch.Tensor:
        raise NotImplementedError

    # -- defaults ------------------------------------------------------------------
    @classmethod
    def activation_bytes(cls, cfg: dict[str, Any], dims: dict[str, int]) -> float:
        """Bytes one model's training step allocates (forward values kept for backward, their gradients): the
        budget adds it for the largest stack. Default: every layer's (B, width) output, float32, ×3 (value,
        gradient, optimiser scratch), with the widths of the task's input, hidden and output."""
        B, h = cfg.get("batch_size", 64), cfg.get("hidden", 100)
        return 4.0 * 3 * B * (dims.get("d", 0) + 6 * h + 4 * max(dims.values(), default=0))

    def init_state(self) -> dict[str, torch.Tensor]:
        return {}

    def groups(self, P: Params) -> list[Group]:
        """One AdamW group over every parameter, the cfg's lr and weight decay."""
        return adamw_groups(self, P)

    def before_step(self, groups: list[Group], state: dict[str, torch.Tensor]) -> None:
        """Set state-dependent optimiser hyper-parameters (AMEMA's momenta) right before the step."""

    def after_step(self, state: dict[str, torch.Tensor], out: Loss, active: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state after the optimiser step (AMEMA moves its momenta by `out.aux`); `active` (M,) the models
        that stepped."""
        return state


def adamw_groups(method: Method, P: Params, *, amsgrad: bool = False, bias_decay: torch.Tensor | None = None,
                 clip: Clip | None = None) -> list[Group]:
    """One AdamW group: weight decay from cfg on weight matrices, `bias_decay` (default: the same) on biases."""
    wd = method.col("weight_decay")
    names = list(P)
    decay = [bias_decay if (bias_decay is not None and n.endswith("bias")) else wd for n in names]
    return [Group(names, AdamW([P[n] for n in names], method.col("lr"), decay, amsgrad=amsgrad), clip)]
