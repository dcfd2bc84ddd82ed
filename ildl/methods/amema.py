"""AMEMA: adaptive momentum and EMA-weighted branches for decoupled imbalanced LDL.

Gao, Sun et al. "AMEMA" (decoupled imbalanced label distribution learning with adaptive momentum
and EMA branch weighting). AAAI 2026 — Algorithm 1 of its appendix, as fixed in spec §3.

Two branches, each its own MLP (θ_s: dominant, θ_ns: non-dominant), both x (M, B, d) → logits (M, B, C).
Per step (per model; E, μ are (M,) state):
  L_s  = KL(b ‖ [p̄_k, 1−p̄_k])  (default; `dominant_target=onehot` gives the literal KL(D̄‖p̄) = CE)   (Alg. 1 l. 6)
  L_ns = KL(D̂ ‖ p̂_ns), D̂ renormalised (AMEMA eq. 3)                                              (l. 7)
  E ← m·E + (1−m)·L per branch, E⁽⁰⁾ = 0                                  (EMA of branch losses, l. 9)
  r = E_ns / (E_s + ε); w_ns = b + (1−b)·σ(α(r−1)); w_s = 1 − w_ns       (branch weights, l. 10–12)
  v ← μ v + ∇θ(w·L_branch); θ ← θ − η v                                  (heavy-ball SGD per branch, l. 14–16)
  δ = σ(α(r−1)); μ_ns += γδ; μ_s −= γδ; both kept in [0, μ_max]          (adaptive momenta, l. 17–18)
Prediction recombines (spec §2): k̂ = argmax p̄, q = p̄_k̂, p̂ from the non-dominant branch.
Training setup as the paper's Implementation Details state it: SGD with gradient clipping, lr 0.001,
batch 64, at most 50 epochs, μ⁰ = 0.75 / 0.95, b = 0.2, α = 5. Declared and switchable, because the paper
leaves them open: the clip norm (1.0), the EMA factor m (0.9), the momentum step γ (1e-3), the momentum
bounds [0, `mu_max` = 0.999], whether each branch steps on ∇(w·L) (default) or on Alg. 1 line 15's
unweighted ∇L (`grad_weighting`), and the momentum update after the parameter step.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..config import Param
from ..decouple import EPS, binary_kl, decouple, kl, log_nondominant, recombine
from ..nets import mlp, mlp_f
from ..optim import SGD, Clip, Group, group
from ..stack import Params
from .base import Batch, Loss, Method

MU_MAX = 0.999
F64 = torch.float64  # EMAs and momenta accumulate over thousands of steps


class AMEMA(Method):
    family = "ildl"  # the imbalanced-LDL methods of the papers' tables
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
    sparse_rows = ("s.0.weight", "ns.0.weight")  # on sparse features only the rows a batch touches step now
    shape_keys = Method.shape_keys + ("dominant_target",)

    def build(self) -> nn.Module:
        d, h, C = self.dims["d"], self.cfg["hidden"], self.dims["C"]
        return nn.ModuleDict({"s": mlp(d, h, C), "ns": mlp(d, h, C)})

    def init_state(self) -> dict[str, torch.Tensor]:
        mome = self.flag("mome")
        shared = self.col("shared_mu", F64)
        z = torch.zeros(self.M, dtype=F64, device=self.device)
        return dict(ema_s=z, ema_ns=z.clone(), mu_s=torch.where(mome, self.col("mu_s0", F64), shared),
                    mu_ns=torch.where(mome, self.col("mu_ns0", F64), shared))

    def groups(self, P: Params) -> list[Group]:
        def branch(prefix, mu):
            names = [n for n in P if n.startswith(prefix + ".")]
            return Group(names, SGD([P[n] for n in names], self.col("lr"), mu.float(), self.col("weight_decay")),
                         Clip(self.col("clip")), label=prefix)
        st = self.init_state()
        return [branch("s", st["mu_s"]), branch("ns", st["mu_ns"])]

    def weights(self, ema_s, ema_ns):
        """(r, σ(α(r − 1)), w_s, w_ns), each (M,), from the EMAs (Alg. 1 l. 10–12)."""
        r = ema_ns / (ema_s + EPS)
        sig = torch.sigmoid(self.col("sharpness", F64) * (r - 1))
        b = self.col("b", F64)
        w_ns = torch.where(self.flag("weig"), b + (1 - b) * sig, torch.full_like(r, 0.5))
        return r, sig, 1 - w_ns, w_ns

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        d = decouple(b.y["y"], "renorm")
        # (M, B, C) each; under +la the dominant branch, whose argmax picks k̂, is trained on z_s + τ·log p_s
        z_s, z_ns = self.adjust(mlp_f(P, "s", b.x)), mlp_f(P, "ns", b.x)
        if self.cfg["dominant_target"] == "binary":
            L_s = b.mean(binary_kl(d.dk, z_s, d.k))
        else:
            L_s = b.mean(kl(d.onehot, torch.log_softmax(z_s, -1)))
        L_ns = b.mean(kl(d.nondom, log_nondominant(z_ns, d.k)))
        m = self.col("ema", F64)
        ema_s = m * state["ema_s"] + (1 - m) * L_s.detach().double()
        ema_ns = m * state["ema_ns"] + (1 - m) * L_ns.detach().double()
        r, sig, w_s, w_ns = self.weights(ema_s, ema_ns)
        weighted = w_s.float() * L_s + w_ns.float() * L_ns
        t = dict(loss=weighted.detach(), loss_s=L_s.detach(), loss_ns=L_ns.detach(), ema_s=ema_s, ema_ns=ema_ns, r=r,
                 w_s=w_s, w_ns=w_ns, mu_s=state["mu_s"], mu_ns=state["mu_ns"])
        return Loss(t, dict(state, ema_s=ema_s, ema_ns=ema_ns), aux={"delta": sig},
                    objective=torch.where(self.flag("grad_weighting", "weighted"), weighted, L_s + L_ns))

    def before_step(self, groups: list[Group], state: dict[str, torch.Tensor]) -> None:
        group(groups, "s").opt.momentum = state["mu_s"].float()  # each branch's heavy-ball momentum, per model
        group(groups, "ns").opt.momentum = state["mu_ns"].float()

    def after_step(self, state: dict[str, torch.Tensor], out: Loss, active: torch.Tensor) -> dict[str, torch.Tensor]:
        """μ_ns += γδ, μ_s −= γδ within [0, μ_max], after the step (the logged μ is the one used)."""
        upd = active & self.flag("mome")
        g, hi = self.col("mu_step", F64) * out.aux["delta"], self.col("mu_max", F64)
        mu_ns = torch.where(upd, torch.minimum((state["mu_ns"] + g).clamp_min(0.0), hi), state["mu_ns"])
        mu_s = torch.where(upd, torch.minimum((state["mu_s"] - g).clamp_min(0.0), hi), state["mu_s"])
        return dict(state, mu_s=mu_s, mu_ns=mu_ns)

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        p_bar = torch.softmax(mlp_f(P, "s", x), -1)  # (M, n, C) dominant branch
        k = p_bar.argmax(-1)
        q = p_bar.gather(-1, k[..., None]).squeeze(-1)
        p_hat = log_nondominant(mlp_f(P, "ns", x), k).exp()  # (M, n, C), 0 at k̂
        return recombine(k, q, p_hat)
