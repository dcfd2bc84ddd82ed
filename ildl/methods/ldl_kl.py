"""LDL-KL: the plain label-distribution-learning baseline.

Geng, "Label Distribution Learning", IEEE TKDE 2016 — an MLP whose softmax output p is fitted to
y by the Kullback–Leibler divergence; spec §3 defaults (hidden 100, AdamW lr 1e-3, batch 50, 300 epochs).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..decouple import kl
from ..nets import mlp, mlp_f
from ..stack import Params
from .base import Batch, Loss, Method


class LDLKL(Method):
    name = "ldl-kl"
    title = "LDL-KL — MLP + KL(y‖p), the plain baseline"
    paper = "Geng. Label Distribution Learning. IEEE TKDE, 2016."

    def build(self) -> nn.Module:
        return nn.ModuleDict({"net": mlp(self.dims["d"], self.cfg["hidden"], self.dims["C"])})

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        z = self.adjust(mlp_f(P, "net", b.x))  # (M, B, C), + τ·log p_s under +la
        return Loss({"loss": b.mean(kl(b.y["y"], torch.log_softmax(z, -1)))}, state)  # L = mean_i KL(y_i ‖ softmax(z_i))

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return torch.softmax(mlp_f(P, "net", x), -1)
