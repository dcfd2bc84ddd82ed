"""RDA: representation distribution alignment for imbalanced LDL.

Zhao, An, Xu, Wang & Geng. "Imbalanced Label Distribution Learning". AAAI 2023. Public code: GitHub
`ailearn-ml/RDA` — the structure below follows it, because it decides results (spec §3; measured on Movie
folds 0 and 1 by `bench/parity_rda.py`).

  encoder        h = W_x x                                   (one linear layer, no activation)
  Gaussian heads μ_x = A h, log σ_x² = A' h                   (on the pre-activation h)
  label side     h_y = W_y y, μ_y = B h_y, log σ_y² = B' h_y
  prediction     p = softmax(D(ReLU(h)))                     (the heads are never on this path)
  L = L_pred + 0.1·L_recover + 0.1·L_target + 0.1·L_sim      (paper eq. 9; the reference's λ1..λ3)
    L_pred    = OFR-DB on D(ReLU(h))                         (eq. 4, distribution-balanced KL)
    L_recover = CE(y, softmax(D(r_y)))                       (eq. 8, the label latent must carry y)
    L_target  = KL(N(μ_x, σ_x²) ‖ N(sg μ_y, sg σ_y²))         (eq. 6, features move towards labels)
    L_sim     = MSE(cos(r_x, r_x), cos(r_y, r_y))            (eq. 7, B × B similarity structure)
  r = μ + σ·ε, ε ~ N(0, I) from each model's own noise stream (x first, then y, as the reference draws them).
Training as in the reference: Kaiming-normal init, AdamW with amsgrad (weight decay 1e-4 on weight
matrices; biases get AdamW's default 1e-2 because the reference's second group names none), its adaptive
gradient clipping (`optim.Clip`, factor 5), and the loss divided by its own value every step.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..config import Param
from ..nets import LatentEncoder, gaussian_kl, kaiming_normal_, latent_f, similarity_loss
from ..optim import Clip, Group
from ..stack import Params, linear
from .base import Batch, Loss, Method, adamw_groups
from .ofr import ofr_terms

# Training choices of the reference code, shared by RDA and DILDL (all switchable, see docs/methods.md).
LATENT_PARAMS = (
    Param("init", "choice", "kaiming", "weight init: kaiming (reference: Kaiming-normal, zero biases) or torch "
          "(nn.Linear's default)", choices=("kaiming", "torch")),
    Param("bias_decay", "float", 1e-2, "AdamW weight decay on biases (reference: AdamW's default 1e-2, since its "
          "bias group names none)", 0.0, 1.0),
    Param("clip", "float", 5.0, "gradient clipping factor (0 = off)", 0.0, 1e6),
    Param("clip_rule", "choice", "adaptive", "adaptive: × the largest of the last 5 recorded norms (reference); "
          "fixed: a plain norm cap", choices=("adaptive", "fixed")),
    Param("self_normalise", "bool", True, "divide the loss by its own value each step (reference code; off = the "
          "paper's equation)"),
)


class LatentLDL(Method):
    """Shared skeleton: feature and label `LatentEncoder`s, one linear decoder D (hidden → C)."""
    family = "ildl"  # the imbalanced-LDL methods of the papers' tables

    defaults = {"weight_decay": 1e-4}
    shape_keys = Method.shape_keys + ("init", "clip_rule")

    def build(self) -> nn.Module:
        h, C = self.cfg["hidden"], self.dims["C"]
        m = nn.ModuleDict({"enc_x": LatentEncoder(self.dims["d"], h), "enc_y": LatentEncoder(C, h),
                           "dec": nn.Linear(h, C)})
        self._init(m)
        for k, mod in self.extra_modules().items():  # built and initialised after the shared skeleton, so
            self._init(mod)  # DILDL's random draws extend RDA's: with both switches off it *is* RDA
            m[k] = mod
        return m

    def extra_modules(self) -> dict[str, nn.Module]:
        return {}

    def _init(self, module: nn.Module) -> None:
        if self.cfg["init"] == "kaiming":
            kaiming_normal_(module)

    def groups(self, P: Params) -> list[Group]:
        return adamw_groups(self, P, amsgrad=True, bias_decay=self.col("bias_decay"),
                            clip=Clip(self.col("clip"), self.cfg["clip_rule"]))

    def db(self, z: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor, b) -> torch.Tensor:
        """OFR-DB per model, z, y (M, B, C) → (M,)."""
        t = ofr_terms(z, y, self.stat("label_mass")[:, None, :], self.stat("n").view(-1, 1, 1),
                      gamma=gamma.view(-1, 1, 1), db=True)
        return b.mean(t)

    def reparameterise(self, mu, logvar, b) -> torch.Tensor:
        return mu + torch.exp(0.5 * logvar) * b.noise(mu.shape[-1])

    def rda_alignment(self, P, b, mu_x, lv_x, r_x, r_y, mu_y, lv_y) -> dict[str, torch.Tensor]:
        """The three RDA terms for the whole label distribution (eqs. 6–8), each (M,)."""
        y = b.y["y"]
        return {
            "recover": b.mean(-(y * torch.log_softmax(linear(P, "dec", r_y), -1)).sum(-1)),
            "target": b.mean(gaussian_kl(mu_x, lv_x, mu_y.detach(), lv_y.detach())),
            "sim": similarity_loss(r_x, r_y, b.mask),
        }

    def encode(self, P, b):
        """h, μ_x, log σ_x², r_x, μ_y, log σ_y², r_y for the batch (noise drawn x first, then y)."""
        h, mu_x, lv_x = latent_f(P, "enc_x", b.x)
        r_x = self.reparameterise(mu_x, lv_x, b)
        _, mu_y, lv_y = latent_f(P, "enc_y", b.y["y"])
        r_y = self.reparameterise(mu_y, lv_y, b)
        return h, mu_x, lv_x, r_x, mu_y, lv_y, r_y

    def finish(self, t: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> Loss:
        """The reference's loss normalisation: the minimised objective is L / sg(L) per model."""
        total = t["loss"]
        return Loss(t, state, objective=torch.where(self.flag("self_normalise"),
                                                    total / total.detach().abs().clamp_min(1e-12), total))

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return torch.softmax(linear(P, "dec", torch.relu(linear(P, "enc_x.lin", x))), -1)


class RDA(LatentLDL):
    name = "rda"
    title = "RDA — OFR-DB prediction + Gaussian representation alignment"
    paper = "Zhao, An, Xu, Wang & Geng. Imbalanced Label Distribution Learning. AAAI, 2023."
    params = (
        Param("gamma", "float", 2.0, "focal exponent of the OFR-DB prediction loss", 0.0, 10.0),
        Param("w_recover", "float", 0.1, "λ1: weight of L_recover", 0.0, 10.0),
        Param("w_target", "float", 0.1, "λ2: weight of L_target", 0.0, 10.0),
        Param("w_sim", "float", 0.1, "λ3: weight of L_sim", 0.0, 10.0),
    ) + LATENT_PARAMS
    step_terms = ("loss", "pred", "recover", "target", "sim")

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        h, mu_x, lv_x, r_x, mu_y, lv_y, r_y = self.encode(P, b)
        t = {"pred": self.db(self.adjust(linear(P, "dec", torch.relu(h))), b.y["y"], self.col("gamma"), b)}  # eq. 4
        t.update(self.rda_alignment(P, b, mu_x, lv_x, r_x, r_y, mu_y, lv_y))
        t["loss"] = (t["pred"] + self.col("w_recover") * t["recover"] + self.col("w_target") * t["target"]
                     + self.col("w_sim") * t["sim"])  # eq. 9
        return self.finish(t, state)
