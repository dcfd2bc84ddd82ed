"""The interface every method implements, so that one trainer, one event stream and one CLI serve all.

A method owns its modules and optimisers. The trainer calls `train_step(x, y)` once per mini-batch
(the method does forward, backward and step, and returns its named loss terms as floats) and
`predict(x)` for validation and test (label distributions, (B, C)).
"""
from __future__ import annotations

import copy
import threading
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn

from ..config import COMMON, Param

# nn.Module initialisation draws from torch's *global* RNG; two jobs in two threads must not
# interleave their draws, or a seed would no longer fix the result.
_INIT_LOCK = threading.Lock()


class TrainStats:
    """What a method may know about its training set (never the test fold)."""

    def __init__(self, y_train: np.ndarray):
        y = np.asarray(y_train, np.float64)
        self.n = y.shape[0]
        self.n_labels = y.shape[1]
        self.label_mass = y.sum(0)  # (C,) n_c: total degree of label c
        self.prior = y.mean(0)  # (C,) p_s: mean training distribution


class Method:
    name: ClassVar[str]
    title: ClassVar[str] = ""  # one line for pickers
    paper: ClassVar[str] = ""  # "Title. Venue, year."
    params: ClassVar[tuple[Param, ...]] = ()  # method-specific knobs (COMMON is added for neural methods)
    defaults: ClassVar[dict[str, Any]] = {}  # overrides of COMMON defaults (e.g. AMEMA's batch 64, 50 epochs)
    step_terms: ClassVar[tuple[str, ...]] = ("loss",)  # names of the floats train_step returns

    @classmethod
    def schema(cls) -> tuple[Param, ...]:
        common = tuple(Param(p.name, p.kind, cls.defaults.get(p.name, p.default), p.help, p.min, p.max, p.step,
                             p.choices, p.log) for p in COMMON)
        return common + cls.params

    def __init__(self, cfg: dict[str, Any], n_features: int, stats: TrainStats, device: torch.device,
                 seed: int):
        self.cfg = cfg
        self.d, self.C = n_features, stats.n_labels
        self.stats = stats
        self.device = device
        self.gen = torch.Generator().manual_seed(seed + 7919)  # sampling noise inside the loss
        with _INIT_LOCK:
            torch.manual_seed(seed)
            self.build()
        for m in self.modules().values():
            m.to(device)

    # -- to implement ------------------------------------------------------------------
    def build(self) -> None:
        """Create modules (registered in `self.modules()`) and optimisers."""
        raise NotImplementedError

    def modules(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    def tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, np.float32), device=self.device)

    def train(self, mode: bool = True) -> None:
        for m in self.modules().values():
            m.train(mode)

    def state(self) -> dict[str, Any]:
        """A detached copy of every module's weights (the best-validation checkpoint)."""
        return {k: copy.deepcopy(m.state_dict()) for k, m in self.modules().items()}

    def load_state(self, state: dict[str, Any]) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state[k])

    def adamw(self, params, amsgrad: bool = False, weight_decay: float | None = None) -> torch.optim.AdamW:
        wd = self.cfg["weight_decay"] if weight_decay is None else weight_decay
        return torch.optim.AdamW(params, lr=self.cfg["lr"], weight_decay=wd, amsgrad=amsgrad)


class SingleNet(Method):
    """One network x → logits z (B, C) and one AdamW optimiser; subclasses define `loss(z, y)`."""

    def build(self) -> None:
        from ..nets import mlp

        self.net = mlp(self.d, self.cfg["hidden"], self.C)
        self.opt = self.adamw(self.net.parameters())

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def train_step(self, x, y):
        terms = self.loss(self.net(x), y)
        self.opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.opt.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def predict(self, x):
        return torch.softmax(self.net(x), -1)
