"""RDA: representation distribution alignment for imbalanced LDL.

Zhao, Xu, Wang, Jiang & Wang. "Imbalanced Label Distribution Learning". AAAI 2023.
A feature encoder e(x) and a label encoder g(y) each give a diagonal Gaussian; one decoder D maps a
latent to label logits and serves both prediction and label recovery:
  L = L_pred + 0.1·L_recover + 0.1·L_target + 0.1·L_sim        (spec §3)
The reference code divides the loss by its own (detached) value every step, which turns every
step into a unit-loss step; that is offered only as the explicit option `self_normalise`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import Param
from ..nets import GaussianEncoder, gaussian_kl, reparameterise, similarity_loss
from .base import Method
from .ofr import ofr_loss


class LatentLDL(Method):
    """Shared skeleton: feature Gaussian encoder, one label Gaussian encoder, a linear decoder D.

    Shapes: x (B, d) → μ_x, log σ_x² (B, h); D: (B, h) → logits (B, C); prediction softmax(D(ReLU(μ_x))).
    Optimiser: AdamW with amsgrad, weight decay 1e-4 (RDA's choice).
    """

    defaults = {"weight_decay": 1e-4}

    def build(self) -> None:
        h = self.cfg["hidden"]
        self.enc_x = GaussianEncoder(self.d, h, h)
        self.enc_y = GaussianEncoder(self.C, h, h)
        self.dec = nn.Linear(h, self.C)
        self.mass = torch.as_tensor(self.stats.label_mass, dtype=torch.float32, device=self.device)
        self.extra_modules()
        self.opt = self.adamw([p for m in self.modules().values() for p in m.parameters()], amsgrad=True)

    def extra_modules(self) -> None:
        pass

    def modules(self) -> dict[str, nn.Module]:
        return {"enc_x": self.enc_x, "enc_y": self.enc_y, "dec": self.dec}

    def logits(self, mu_x: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.relu(mu_x))

    def rda_alignment(self, mu_x, lv_x, y) -> dict[str, torch.Tensor]:
        """The three RDA terms for the whole label distribution y (B, C)."""
        mu_y, lv_y = self.enc_y(y)
        r_x, r_y = reparameterise(mu_x, lv_x, self.gen), reparameterise(mu_y, lv_y, self.gen)
        return {
            # L_recover = CE(y, softmax(D(r_y))): the label latent must carry y
            "recover": -(y * torch.log_softmax(self.dec(r_y), -1)).sum(-1).mean(),
            # L_target = KL(N(μ_x, σ_x²) ‖ N(μ_y, σ_y²)), label side detached: features move to labels
            "target": gaussian_kl(mu_x, lv_x, mu_y.detach(), lv_y.detach()),
            # L_sim: the (B, B) similarity structure of the two latents should agree
            "sim": similarity_loss(r_x, r_y),
        }

    def step(self, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        loss = terms["loss"]
        if self.cfg.get("self_normalise"):
            loss = loss / loss.detach().clamp_min(1e-12)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def predict(self, x):
        return torch.softmax(self.logits(self.enc_x(x)[0]), -1)


class RDA(LatentLDL):
    name = "rda"
    title = "RDA — OFR-DB prediction + Gaussian representation alignment"
    paper = "Zhao, Xu, Wang, Jiang & Wang. Imbalanced Label Distribution Learning. AAAI, 2023."
    params = (
        Param("gamma", "float", 2.0, "focal exponent of the OFR-DB prediction loss", 0.0, 10.0),
        Param("w_recover", "float", 0.1, "weight of L_recover", 0.0, 10.0),
        Param("w_target", "float", 0.1, "weight of L_target", 0.0, 10.0),
        Param("w_sim", "float", 0.1, "weight of L_sim", 0.0, 10.0),
        Param("self_normalise", "bool", False, "divide the loss by its own value each step (the reference code's "
              "habit; off = the paper's equation)"),
    )
    step_terms = ("loss", "pred", "recover", "target", "sim")

    def train_step(self, x, y):
        mu_x, lv_x = self.enc_x(x)
        t = {"pred": ofr_loss(self.logits(mu_x), y, self.mass, self.stats.n, gamma=self.cfg["gamma"], db=True)}
        t.update(self.rda_alignment(mu_x, lv_x, y))
        c = self.cfg
        t["loss"] = t["pred"] + c["w_recover"] * t["recover"] + c["w_target"] * t["target"] + c["w_sim"] * t["sim"]
        return self.step(t)
