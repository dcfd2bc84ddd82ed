"""Small building blocks shared by the methods: MLP encoders, Gaussian heads, latent losses."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    """x (B, d_in) → ReLU(x W1) W2 (B, d_out): the spec's 'MLP, hidden 100'."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


class GaussianEncoder(nn.Module):
    """x (B, d_in) → (μ, log σ²), each (B, latent): a hidden layer then two linear heads."""

    def __init__(self, d_in: int, hidden: int, latent: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)  # clamp: keeps exp(logvar) finite early on


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
