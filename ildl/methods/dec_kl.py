"""Decoupled KL: LDL-KL's MLP trained on DILDL's decoupled loss alone — the lesson's one-variable contrast.

Gao et al. "Decoupled Imbalanced Label Distribution Learning" (DILDL). IJCAI 2025 — eqs. 4–6 without the
representation alignment, so that plain KL and the decoupled loss differ in the loss only (same MLP, optimiser,
epochs, seeds). Per sample, with k = argmax y and d_k its degree (spec §2):

  plain KL   KL(y‖p) = KL(b‖[p_k, 1−p_k]) + (1 − d_k)·KL(D̂‖p̂)        (the identity: the shape term fades as d_k → 1)
  decoupled  α·KL(b‖[p_k, 1−p_k]) + (1 − α)·KL(D̂‖p̂)                 (eq. 6: the shape term keeps weight 1 − α)

D̂ defaults to the renormalised variant (AMEMA eq. 3) so that the decoupled non-dominant term is exactly the
`kl_nondominant` diagnostic divided by (1 − d_k); DILDL's softmax variant (its eq. 3) is an option.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..config import Param
from ..decouple import VARIANTS, decoupled_kl
from ..nets import mlp, mlp_f
from ..stack import Params
from .base import Batch, Loss, Method


class DecoupledKL(Method):
    name = "dec-kl"
    title = "Decoupled KL — LDL-KL's MLP on the decoupled loss α·KL(b‖b′) + (1−α)·KL(D̂‖p̂)"
    paper = "Gao et al. Decoupled Imbalanced Label Distribution Learning. IJCAI, 2025 (eqs. 4–6)."
    params = (
        Param("alpha", "float", 0.6, "α: weight of the dominant part (DILDL's 0.6); 1 − α weighs the shape", 0.0, 1.0),
        Param("variant", "choice", "renorm", "non-dominant target D̂: renorm (AMEMA eq. 3, the identity's) or softmax "
              "(DILDL eq. 3)", choices=VARIANTS),
    )
    shape_keys = Method.shape_keys + ("variant",)

    def build(self) -> nn.Module:
        return nn.ModuleDict({"net": mlp(self.dims["d"], self.cfg["hidden"], self.dims["C"])})

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        z = self.adjust(mlp_f(P, "net", b.x))  # (M, B, C), + τ·log p_s under +la
        a = self.col("alpha")[:, None]  # (M, 1) per-model α
        return Loss({"loss": b.mean(decoupled_kl(b.y["y"], z, a, self.cfg["variant"]))}, state)

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return torch.softmax(mlp_f(P, "net", x), -1)
