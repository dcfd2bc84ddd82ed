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
Training as in the reference: Kaiming-normal init, AdamW with amsgrad (weight decay 1e-4 on weight
matrices; biases get AdamW's default 1e-2 because the reference's second group names none), its adaptive
gradient clipping (`nets.AdaptiveClip`, factor 5), and the loss divided by its own value every step.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import Param
from ..nets import AdaptiveClip, LatentEncoder, gaussian_kl, kaiming_normal_, reparameterise, similarity_loss
from .base import Method
from .ofr import ofr_loss

# Training choices of the reference code, shared by RDA and DILDL (both switchable, see docs/methods.md).
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
    """Shared skeleton: feature and label `LatentEncoder`s, one linear decoder D (hidden → C).

    Shapes: x (B, d) → h, μ_x, log σ_x² (B, hidden); D: (B, hidden) → logits (B, C)."""

    defaults = {"weight_decay": 1e-4}

    def build(self) -> None:
        h = self.cfg["hidden"]
        self.enc_x = LatentEncoder(self.d, h)
        self.enc_y = LatentEncoder(self.C, h)
        self.dec = nn.Linear(h, self.C)
        self._init(self.enc_x, self.enc_y, self.dec)
        self.extra_modules()  # built and initialised after the shared skeleton: DILDL's draws extend RDA's
        self.mass = torch.as_tensor(self.stats.label_mass, dtype=torch.float32, device=self.device)
        named = [(n, p) for m in self.modules().values() for n, p in m.named_parameters()]
        self.opt = torch.optim.AdamW(
            [{"params": [p for n, p in named if not n.endswith("bias")], "weight_decay": self.cfg["weight_decay"]},
             {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": self.cfg["bias_decay"]}],
            lr=self.cfg["lr"], amsgrad=True)
        self.clipper = AdaptiveClip(self.cfg["clip"]) if self.cfg["clip_rule"] == "adaptive" else None

    def extra_modules(self) -> None:
        pass

    def _init(self, *modules: nn.Module) -> None:
        if self.cfg["init"] == "kaiming":
            for m in modules:
                kaiming_normal_(m)

    def modules(self) -> dict[str, nn.Module]:
        return {"enc_x": self.enc_x, "enc_y": self.enc_y, "dec": self.dec}

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """The prediction path: D(ReLU(h)), h the encoder's pre-activation (B, hidden) → (B, C)."""
        return self.dec(torch.relu(h))

    def db_loss(self, z: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
        return ofr_loss(z, y, self.mass, self.stats.n, gamma=gamma, db=True)

    def rda_alignment(self, mu_x, lv_x, y) -> dict[str, torch.Tensor]:
        """The three RDA terms for the whole label distribution y (B, C) (eqs. 6–8)."""
        _, mu_y, lv_y = self.enc_y(y)
        r_x, r_y = reparameterise(mu_x, lv_x, self.gen), reparameterise(mu_y, lv_y, self.gen)
        return {
            "recover": -(y * torch.log_softmax(self.dec(r_y), -1)).sum(-1).mean(),
            "target": gaussian_kl(mu_x, lv_x, mu_y.detach(), lv_y.detach()),
            "sim": similarity_loss(r_x, r_y),
        }

    def step(self, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        loss = terms["loss"]
        if self.cfg["self_normalise"]:
            loss = loss / loss.detach().abs().clamp_min(1e-12)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for m in self.modules().values() for p in m.parameters() if p.grad is not None]
        if self.cfg["clip"] > 0:
            if self.clipper is not None:
                self.clipper(params)
            else:
                torch.nn.utils.clip_grad_norm_(params, self.cfg["clip"])
        self.opt.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def predict(self, x):
        return torch.softmax(self.logits(self.enc_x.lin(x)), -1)


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

    def train_step(self, x, y):
        h, mu_x, lv_x = self.enc_x(x)
        t = {"pred": self.db_loss(self.logits(h), y, self.cfg["gamma"])}
        t.update(self.rda_alignment(mu_x, lv_x, y))
        c = self.cfg
        t["loss"] = t["pred"] + c["w_recover"] * t["recover"] + c["w_target"] * t["target"] + c["w_sim"] * t["sim"]
        return self.step(t)
