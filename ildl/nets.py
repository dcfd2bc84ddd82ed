"""Small building blocks shared by the methods: MLPs, latent Gaussian encoders, latent losses, clipping."""
from __future__ import annotations

from collections import deque

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    """x (B, d_in) → ReLU(x W1) W2 (B, d_out): the spec's 'MLP, hidden 100'."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


class LatentEncoder(nn.Module):
    """RDA's encoder, as in its reference code: h = W v (one linear layer, *no* activation), then two linear
    Gaussian heads on the pre-activation h: μ = A h, log σ² = A' h.

    v (B, d_in) → h, μ, log σ², each (B, hidden). Prediction uses D(ReLU(h)); the heads serve the alignment
    losses only, so they never touch the prediction path."""

    def __init__(self, d_in: int, hidden: int):
        super().__init__()
        self.lin = nn.Linear(d_in, hidden)
        self.mu = nn.Linear(hidden, hidden)
        self.logvar = nn.Linear(hidden, hidden)

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.lin(v)
        return h, self.mu(h), self.logvar(h)


def kaiming_normal_(module: nn.Module) -> None:
    """The RDA reference's init: Kaiming-normal (fan-in, gain √2) for every weight matrix, zero biases."""
    for name, p in module.named_parameters():
        if name.endswith("weight") and p.dim() == 2:
            nn.init.kaiming_normal_(p)
        elif name.endswith("bias"):
            nn.init.zeros_(p)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """r = μ + σ·ε, ε ~ N(0, I) drawn from the run's own generator (threads must not share RNG state)."""
    eps = torch.randn(mu.shape, generator=gen, device="cpu").to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu1, logvar1, mu2, logvar2) -> torch.Tensor:
    """KL(N(μ1, σ1²) ‖ N(μ2, σ2²)) for diagonal Gaussians, summed over latent dims, mean over batch.

    = Σ_j ½[log σ2² − log σ1² + (σ1² + (μ1 − μ2)²)/σ2² − 1]
    """
    t = 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2) ** 2) / logvar2.exp() - 1.0)
    return t.sum(-1).mean()


def similarity_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MSE between the (B, B) cosine-similarity matrices of a (B, m) and b (B, m) (RDA's L_sim)."""
    an, bn = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    return F.mse_loss(an @ an.T, bn @ bn.T)


class AdaptiveClip:
    """The RDA reference's gradient clipping: clip the total norm at `factor` × the largest of the last five
    recorded norms (no clipping until one is recorded), then record min(norm, 2 × that largest, 1.0).

    So after the first steps the threshold sits at ≤ 5 × (a recent norm, capped at 1): it damps spikes
    relative to the recent past rather than at a fixed level."""

    def __init__(self, factor: float = 5.0):
        self.factor = factor
        self.queue: deque[float] = deque([float("inf")], maxlen=5)

    def __call__(self, params) -> float:
        largest = max(self.queue)
        total = float(torch.nn.utils.clip_grad_norm_(list(params), largest * self.factor))
        self.queue.append(min(total, largest * 2.0, 1.0))
        return total
