"""Maximum-entropy LDL models fitted by L-BFGS: SA-BFGS and LDL-LDM.

Both predict p(y | x) = softmax(x W), W (d, C) (LDL-LDM appends a constant feature), and minimise a smooth
objective of W by L-BFGS over the whole fold (`ildl.solvers.LBFGS`, stacked over the model axis, gradients by
autograd). One epoch is one L-BFGS iteration; a model stops at its tolerance and keeps its W.

- SA-BFGS — Geng, "Label Distribution Learning", IEEE TKDE 2016 (spec §3c; the specialized algorithms: the
  maximum-entropy model p(y_j | x; θ) ∝ exp(Σ_k θ_jk x_k) and the target T(θ) = Σ_i KL(D_i ‖ p(x_i; θ)),
  minimised by BFGS; its gradient Σ_i x_i (p_i − D_i)ᵀ, here by autograd).
- LDL-LDM — Wang & Geng, "Label Distribution Learning by Exploiting Label Distribution Manifold", IEEE TNNLS
  2023 (34(2): 839–852): the same model with ½λ1‖W‖², a global label-distribution manifold term λ2‖P̂(I − Z)‖²
  and a local one λ3 Σ_g ‖P̂_g(I − Z_g)‖² per k-means cluster g of the training distributions, where Z
  reconstructs every label column of the training D from the other columns (locally linear embedding weights).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..config import Param
from ..decouple import kl
from ..solvers import LBFGS, barycenter_weights
from ..stack import Params
from .base import Batch
from .classic import Classic, max_iterations


class _MaxEnt(Classic):
    """Shared: the L-BFGS iteration per epoch over an objective of W (M, d', C)."""

    def build(self) -> nn.Module:
        return nn.ParameterDict({"W": self.init(self.linear("W"))})

    def init(self, w: nn.Parameter) -> nn.Parameter:
        return w

    def objective(self, W: torch.Tensor, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, x, y, m) -> None:
        """Training-set quantities the objective needs (computed once)."""

    def iterate(self, P: Params, b: Batch) -> dict[str, torch.Tensor]:
        x, y, m = self.data(b)
        if getattr(self, "_opt", None) is None:
            self.prepare(x, y, m)
            self._opt = LBFGS(lambda W: self.objective(W, x, y, m), P["W"].detach(), gtol=self.col("gtol", torch.float64))
        W = self._opt.step()
        with torch.no_grad():
            P["W"].copy_(W)
        n = m.sum(1).clamp_min(1).to(torch.float64)
        return {"loss": self._opt.f / n}

    def logits(self, P, x) -> torch.Tensor:
        return self.features(x) @ P["W"]

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return torch.softmax(self.logits(P, x), -1)


class SABFGS(_MaxEnt):
    name = "sa-bfgs"
    title = "SA-BFGS — maximum-entropy model, KL, L-BFGS (Geng 2016)"
    paper = "Geng. Label Distribution Learning. IEEE TKDE, 2016."
    params = (
        max_iterations(500, "L-BFGS"),
        Param("gtol", "float", 1e-7, "stop when every |∂T/∂θ| ≤ gtol (scipy's L-BFGS-B pgtol)", 1e-12, 1.0, log=True),
        Param("init", "choice", "uniform", "initial θ: uniform [0, 1) (the reference code) or zeros (the minimum-norm "
              "solution when there are fewer samples than features)", choices=("uniform", "zeros")),
    )

    shape_keys = ("epochs", "init")

    def init(self, w):
        if self.cfg["init"] == "uniform":
            with torch.no_grad():
                w.uniform_(0.0, 1.0)
        return w

    def objective(self, W, x, y, m):
        # T(θ) = Σ_i KL(D_i ‖ softmax(x_i θ)), a sum (not a mean) as in the paper and its reference code
        z = self.adjust(x @ W)  # (M, n, C)
        return (kl(y, torch.log_softmax(z, -1)) * m).sum(1)


class LDLLDM(_MaxEnt):
    name = "ldl-ldm"
    title = "LDL-LDM — label distribution manifold, global + local (Wang & Geng 2023)"
    paper = ("Wang, Geng. Label Distribution Learning by Exploiting Label Distribution Manifold. IEEE TNNLS 34(2), "
             "2023 (online 2021).")
    intercept = True
    params = (
        max_iterations(300, "L-BFGS"),
        Param("gtol", "float", 1e-6, "stop when every |gradient| ≤ gtol", 1e-12, 1.0, log=True),
        Param("l1", "float", 1e-3, "λ1: ½λ1‖W‖²", 0.0, 10.0, log=True),
        Param("l2", "float", 1.0, "λ2: global manifold term ‖P̂(I − Z)‖²", 0.0, 100.0, log=True),
        Param("l3", "float", 1.0, "λ3: local manifold terms ‖P̂_g(I − Z_g)‖² per cluster", 0.0, 100.0, log=True),
        Param("clusters", "int", 10, "g: k-means clusters of the training label distributions (≤ 1: no local terms)",
              0, 100, 1),
    )
    shape_keys = ("epochs", "clusters")

    def init(self, w):
        with torch.no_grad():  # the reference code starts from the identity
            w.copy_(torch.eye(*w.shape, dtype=w.dtype))
        return w

    def prepare(self, x, y, m):
        # Z (M, C, C): column j of D ≈ Σ_k Z_kj D_·k (the reference's barycenter graph, transposed)
        eye = torch.eye(y.shape[-1], dtype=y.dtype, device=y.device)
        self._IZ = eye - barycenter_weights(y.transpose(1, 2)).transpose(1, 2)  # (M, C, C)
        g = int(self.cfg["clusters"])
        if g > 1:
            self._member = self.onehot(self.clusters(y, m, g), g)  # (M, g, n)
            cols = y[:, None] * self._member[..., None]  # (M, g, n, C): each cluster's rows, others zero
            Zg = barycenter_weights(cols.flatten(0, 1).transpose(1, 2)).view(len(y), g, *eye.shape)
            self._IZg = eye - Zg.transpose(-1, -2)  # (M, g, C, C)
        else:
            self._member = None

    def objective(self, W, x, y, m):
        z = self.adjust(x @ W)
        logp = torch.log_softmax(z, -1)
        p = logp.exp() * m[..., None]  # (M, n, C), padding rows zero
        f = (kl(y, logp) * m).sum(1) + 0.5 * self.col("l1", W.dtype) * (W ** 2).flatten(1).sum(1)
        f = f + self.col("l2", W.dtype) * ((p @ self._IZ) ** 2).flatten(1).sum(1)
        if self._member is not None:
            local = (self._member[..., None] * p[:, None]) @ self._IZg  # (M, g, n, C)
            f = f + self.col("l3", W.dtype) * (local ** 2).flatten(1).sum(1)
        return f
