"""LDL-KL: the plain label-distribution-learning baseline.

Geng, "Label Distribution Learning", IEEE TKDE 2016 — an MLP whose softmax output p is fitted to
y by the Kullback–Leibler divergence; spec §3 defaults (hidden 100, AdamW lr 1e-3, batch 50, 300 epochs).
"""
from __future__ import annotations

import torch

from ..decouple import kl
from .base import SingleNet


class LDLKL(SingleNet):
    name = "ldl-kl"
    title = "LDL-KL — MLP + KL(y‖p), the plain baseline"
    paper = "Geng. Label Distribution Learning. IEEE TKDE, 2016."

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        # L = mean_i KL(y_i ‖ softmax(z_i)); z, y (B, C)
        return {"loss": kl(y, torch.log_softmax(z, -1)).mean()}
