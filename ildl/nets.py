"""Building blocks shared by the methods: module builders (one model) and their functional forms on
stacked parameters (M models, `ildl.stack`), latent Gaussian losses.

Shapes: x (M, B, d) or sparse rows; every output keeps the leading model axis M.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .stack import Params, linear


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    """x (B, d_in) → ReLU(x W1) W2 (B, d_out): the spec's 'MLP, hidden 100'."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def mlp_f(P: Params, name: str, x) -> torch.Tensor:
    """The stacked form of `mlp`: x (M, B, d) → (M, B, d_out)."""
    return linear(P, f"{name}.2", torch.relu(linear(P, f"{name}.0", x)))


def encoder(d_in: int, hidden: int) -> nn.Sequential:
    """Two ReLU layers d_in → hidden → hidden (the Group-DIR representation z)."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())


def encoder_f(P: Params, name: str, x) -> torch.Tensor:
    return torch.relu(linear(P, f"{name}.2", torch.relu(linear(P, f"{name}.0", x))))


class LatentEncoder(nn.Module):
    """RDA's encoder, as in its reference code: h = W v (one linear layer, *no* activation), then two linear
    Gaussian heads on the pre-activation h: μ = A h, log σ² = A' h. Prediction uses D(ReLU(h)); the heads
    serve the alignment losses only, so they never touch the prediction path."""

    def __init__(self, d_in: int, hidden: int):
        super().__init__()
        self.lin = nn.Linear(d_in, hidden)
        self.mu = nn.Linear(hidden, hidden)
        self.logvar = nn.Linear(hidden, hidden)


def latent_f(P: Params, name: str, v) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`LatentEncoder` on stacked parameters: v (M, B, d_in) → h, μ, log σ², each (M, B, hidden)."""
    h = linear(P, f"{name}.lin", v)
    return h, linear(P, f"{name}.mu", h), linear(P, f"{name}.logvar", h)


def kaiming_normal_(module: nn.Module) -> None:
    """The RDA reference's init: Kaiming-normal (fan-in, gain √2) for every weight matrix, zero biases."""
    for name, p in module.named_parameters():
        if name.endswith("weight") and p.dim() == 2:
            nn.init.kaiming_normal_(p)
        elif name.endswith("bias"):
            nn.init.zeros_(p)


def gaussian_kl(mu1, logvar1, mu2, logvar2) -> torch.Tensor:
    """KL(N(μ1, σ1²) ‖ N(μ2, σ2²)) of diagonal Gaussians per row, summed over latent dims: (…, h) → (…).

    = Σ_j ½[log σ2² − log σ1² + (σ1² + (μ1 − μ2)²)/σ2² − 1]
    """
    return (0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2) ** 2) / logvar2.exp() - 1.0)).sum(-1)


def similarity_loss(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RDA's L_sim per model: MSE between the (B, B) cosine-similarity matrices of a and b (M, B, h), over the
    pairs of real rows (mask (M, B)) → (M,)."""
    an, bn = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    d2 = (an @ an.transpose(-1, -2) - bn @ bn.transpose(-1, -2)) ** 2  # (M, B, B)
    m = mask.float()
    pair = m[:, :, None] * m[:, None, :]
    return (d2 * pair).sum((1, 2)) / pair.sum((1, 2)).clamp_min(1)
