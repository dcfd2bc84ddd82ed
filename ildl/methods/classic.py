"""The classic LDL learners of the papers' tables (AMEMA paper, Tables 1–2; spec §3c): linear models of the
features fitted by full-batch solvers — L-BFGS (`maxent.py`: SA-BFGS, LDL-LDM), ADMM (`admm.py`: LDLSF,
LDL-LCLR, EDL-LRL) and full-batch Adam (`scl.py`: Adam-LDL-SCL).

They share this base: one solver iteration per epoch over the whole training fold (the engine passes every row,
in the same order, each time), dense float64 rows (the solvers' tolerances are below float32's resolution),
and none of the minibatch/MLP knobs. Models of a stack never interact: each keeps its own solver state, and a
model that has met its stopping rule stops moving while the others go on.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn as nn

from ..config import Param
from ..optim import Group
from ..solvers import kmeans
from ..stack import Params
from .base import Batch, Method

FLOAT32_EPS = 1.1920928955078125e-07


def max_iterations(default: int, what: str) -> Param:
    """The `epochs` knob of a classic learner: one epoch is one iteration of its solver."""
    return Param("epochs", "int", default, f"{what} iterations (one per epoch; each is a full pass over the fold)",
                 1, 20000, 1)


class Classic(Method):
    family = "classic"
    full_batch = True
    dtype = torch.float64
    unused = ("batch_size", "lr", "weight_decay", "hidden")
    shape_keys = ("epochs",)
    intercept: ClassVar[bool] = False  # append a constant feature (LDL-LDM's reference code does)

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._data: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def activation_bytes(cls, cfg: dict[str, Any], dims: dict[str, int]) -> float:
        """The whole fold at once, float64: features, targets, predictions and their gradients, ×3."""
        n, d, C = dims.get("n", 1), dims.get("d", 0) + 1, dims.get("C", 1)
        return 8.0 * 3 * n * (d + 4 * C)

    def groups(self, P: Params) -> list[Group]:
        return []  # no engine optimiser: `iterate` runs the solver

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (M, n, d) → float64 (M, n, d[+1])."""
        x = x.to(torch.float64)
        if self.intercept:
            x = torch.cat([x, torch.ones_like(x[..., :1])], -1)
        return x

    def data(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The training fold, read at the first iteration: x (M, n, d'), y (M, n, C), mask (M, n); padding rows
        are zero in x and y, so sums over rows see only the real ones."""
        if self._data is None:
            m = b.mask
            x = self.features(b.x) * m[..., None]
            y = b.y["y"].to(torch.float64) * m[..., None]
            self._data = (x, y, m)
        elif self._data[0].shape[1] != b.mask.shape[1]:
            raise RuntimeError(f"{self.name}: a full-batch solver needs the same rows every iteration")
        return self._data

    def linear(self, name: str) -> nn.Parameter:
        d = self.dims["d"] + int(self.intercept)
        return nn.Parameter(torch.zeros(d, self.dims["C"], dtype=torch.float64))

    def clusters(self, v: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
        """k-means labels (M, n) of each model's rows v (M, n, p), −1 on padding; seeded by the model's seed so a
        model's clusters do not depend on its stack."""
        gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.cluster_labels, self.cluster_centres = kmeans(v, mask, k, gens)  # kept for inspection (parity bench)
        return self.cluster_labels

    def onehot(self, labels: torch.Tensor, k: int) -> torch.Tensor:
        """(M, n) cluster labels (−1 padding) → (M, k, n) float64 row indicators."""
        ar = torch.arange(k, device=labels.device)
        return (labels[:, None, :] == ar[None, :, None]).to(torch.float64)

    @staticmethod
    def freeze(done: torch.Tensor, old: dict[str, torch.Tensor], new: dict[str, torch.Tensor]) -> dict:
        """A stopped model keeps its values: per name, new where not done, else old."""
        out = {}
        for k, v in new.items():
            shape = (-1,) + (1,) * (v.dim() - 1)
            out[k] = torch.where(done.view(shape), old[k], v)
        return out
