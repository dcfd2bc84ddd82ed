"""AMEMA: adaptive momentum and EMA-weighted branches for decoupled imbalanced LDL.

Gao, Sun et al. "AMEMA" (decoupled imbalanced label distribution learning with adaptive momentum
and EMA branch weighting). AAAI 2026 — Algorithm 1 of its appendix, as fixed in spec §3.

Two branches, each its own MLP (θ_s: dominant, θ_ns: non-dominant), both x (B, d) → logits (B, C).
Per step:
  L_s  = KL(b ‖ [p̄_k, 1−p̄_k])  (default; `dominant_target=onehot` gives the literal KL(D̄‖p̄) = CE)
  L_ns = KL(D̂ ‖ p̂_ns), D̂ renormalised (AMEMA eq. 3)
  E ← m·E + (1−m)·L per branch, E⁽⁰⁾ = 0                                  (EMA of branch losses)
  r = E_ns / (E_s + ε); w_ns = b + (1−b)·σ(α(r−1)); w_s = 1 − w_ns       (branch weights)
  v ← μ v + ∇θ(w·L_branch); θ ← θ − η v                                  (heavy-ball SGD per branch)
  δ = σ(α(r−1)); μ_ns += γδ; μ_s −= γδ; both kept in [0, 0.999]          (adaptive momenta)
Prediction recombines (spec §2): k̂ = argmax p̄, q = p̄_k̂, p̂ from the non-dominant branch.
Training setup as the paper's Implementation Details state it: SGD with gradient clipping, lr 0.001,
batch 64, at most 50 epochs, μ⁰ = 0.75 / 0.95, b = 0.2, α = 5. Declared and switchable, because the paper
leaves them open: the clip norm (1.0), the EMA factor m (0.9), the momentum step γ (1e-3), the momentum
bounds [0, `mu_max` = 0.999], whether each branch steps on ∇(w·L) (default) or on Alg. 1 line 15's
unweighted ∇L (`grad_weighting`), and the momentum update after the parameter step.
"""
from __future__ import annotations

import math

import torch

from ..config import Param
from ..decouple import EPS, binary_kl, decouple, kl, log_nondominant, recombine
from ..nets import mlp
from .base import Method

MU_MAX = 0.999


class AMEMA(Method):
    name = "amema"
    title = "AMEMA — two branches, EMA loss weights, adaptive branch momenta"
    paper = "Gao, Sun et al. AMEMA: decoupled imbalanced LDL with adaptive momentum and EMA weighting. AAAI, 2026."
    defaults = {"batch_size": 64, "epochs": 50, "lr": 1e-3, "weight_decay": 0.0}
    params = (
        Param("b", "float", 0.2, "floor b of the non-dominant weight: w_ns ∈ [b, 1]", 0.0, 1.0),
        Param("sharpness", "float", 5.0, "α in σ(α(r − 1)) for weights and momentum steps", 0.0, 100.0),
        Param("ema", "float", 0.9, "EMA factor m of the branch losses", 0.0, 0.9999),
        Param("mu_s0", "float", 0.75, "initial momentum μ_s of the dominant branch", 0.0, MU_MAX),
        Param("mu_ns0", "float", 0.95, "initial momentum μ_ns of the non-dominant branch", 0.0, MU_MAX),
        Param("mu_step", "float", 1e-3, "γ: momentum change per step, scaled by δ = σ(α(r − 1))", 0.0, 0.1),
        Param("mu_max", "float", MU_MAX, "upper bound of both momenta (the paper names none; with lr 0.5 μ_ns "
              "reached it within ~100 steps on Movie, with the paper's lr 0.001 it ends near 0.99)", 0.5, 0.9999),
        Param("shared_mu", "float", 0.9, "the one momentum of both branches when `mome` is off", 0.0, MU_MAX),
        Param("clip", "float", 1.0, "gradient-norm clipping per branch (0 = off)", 0.0, 1e6),
        Param("weig", "bool", True, "EMA branch weights (off: fixed 0.5 / 0.5)"),
        Param("mome", "bool", True, "adaptive branch momenta (off: one shared momentum)"),
        Param("grad_weighting", "choice", "weighted", "weighted: each branch steps on ∇(w·L) (the weights steer "
              "training); unweighted: ∇L as Alg. 1 line 15 writes it (then w only changes the logged loss)",
              choices=("weighted", "unweighted")),
        Param("dominant_target", "choice", "binary", "dominant-branch target: binary [d_k, 1−d_k] keeps the degree "
              "learnable; onehot is the paper-literal D̄ and throws the degree away", choices=("binary", "onehot")),
    )
    step_terms = ("loss", "loss_s", "loss_ns", "ema_s", "ema_ns", "r", "w_s", "w_ns", "mu_s", "mu_ns")

    def build(self) -> None:
        c, h = self.cfg, self.cfg["hidden"]
        self.net_s = mlp(self.d, h, self.C)
        self.net_ns = mlp(self.d, h, self.C)
        self.ema_s = self.ema_ns = 0.0
        self.mu_s, self.mu_ns = (c["mu_s0"], c["mu_ns0"]) if c["mome"] else (c["shared_mu"], c["shared_mu"])
        # heavy-ball SGD: torch's SGD with dampening 0, nesterov off is exactly v ← μv + g; θ ← θ − ηv
        self.opt_s = torch.optim.SGD(self.net_s.parameters(), lr=c["lr"], momentum=self.mu_s, dampening=0.0,
                                     weight_decay=c["weight_decay"])
        self.opt_ns = torch.optim.SGD(self.net_ns.parameters(), lr=c["lr"], momentum=self.mu_ns, dampening=0.0,
                                      weight_decay=c["weight_decay"])

    def modules(self):
        return {"net_s": self.net_s, "net_ns": self.net_ns}

    def branch_losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = decouple(y, "renorm")
        z_s, z_ns = self.net_s(x), self.net_ns(x)  # (B, C) each
        if self.cfg["dominant_target"] == "binary":
            loss_s = binary_kl(d.dk, z_s, d.k).mean()
        else:
            loss_s = kl(d.onehot, torch.log_softmax(z_s, -1)).mean()
        loss_ns = kl(d.nondom, log_nondominant(z_ns, d.k)).mean()
        return loss_s, loss_ns

    def weights(self) -> tuple[float, float, float]:
        """(r, w_s, w_ns) from the current EMAs."""
        c = self.cfg
        r = self.ema_ns / (self.ema_s + EPS)
        if not c["weig"]:
            return r, 0.5, 0.5
        w_ns = c["b"] + (1 - c["b"]) * _sigmoid(c["sharpness"] * (r - 1))
        return r, 1 - w_ns, w_ns

    def train_step(self, x, y):
        c = self.cfg
        loss_s, loss_ns = self.branch_losses(x, y)
        m = c["ema"]
        self.ema_s = m * self.ema_s + (1 - m) * float(loss_s.detach())
        self.ema_ns = m * self.ema_ns + (1 - m) * float(loss_ns.detach())
        r, w_s, w_ns = self.weights()
        for opt, net, w, loss, mu in ((self.opt_s, self.net_s, w_s, loss_s, self.mu_s),
                                      (self.opt_ns, self.net_ns, w_ns, loss_ns, self.mu_ns)):
            opt.zero_grad(set_to_none=True)
            ((w if c["grad_weighting"] == "weighted" else 1.0) * loss).backward()
            if c["clip"] > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), c["clip"])
            opt.param_groups[0]["momentum"] = mu
            opt.step()
        out = dict(loss=w_s * float(loss_s.detach()) + w_ns * float(loss_ns.detach()), loss_s=float(loss_s.detach()),
                   loss_ns=float(loss_ns.detach()), ema_s=self.ema_s, ema_ns=self.ema_ns, r=r, w_s=w_s, w_ns=w_ns,
                   mu_s=self.mu_s, mu_ns=self.mu_ns)
        if c["mome"]:  # after the step: the momenta used this step are the ones logged
            delta = _sigmoid(c["sharpness"] * (r - 1))
            self.mu_ns = min(max(self.mu_ns + c["mu_step"] * delta, 0.0), c["mu_max"])
            self.mu_s = min(max(self.mu_s - c["mu_step"] * delta, 0.0), c["mu_max"])
        return out

    @torch.no_grad()
    def predict(self, x):
        p_bar = torch.softmax(self.net_s(x), -1)  # (B, C) dominant branch
        k = p_bar.argmax(-1)
        q = p_bar.gather(-1, k[:, None]).squeeze(-1)
        p_hat = log_nondominant(self.net_ns(x), k).exp()  # (B, C), 0 at k̂
        return recombine(k, q, p_hat)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(v, 60.0), -60.0)))
