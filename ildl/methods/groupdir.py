"""Group-DIR: deep imbalanced regression by group classification with symmetric descending soft labels,
and its baselines (plain MSE / L1 regression, LDS re-weighting).

Pu et al. "Leveraging Group Classification with Descending Soft Labeling for Deep Imbalanced Regression".
AAAI 2025 — spec §4. LDS: Yang et al., "Delving into Deep Imbalanced Regression". ICML 2021.

Model: encoder f: x (M, B, d) → z (M, B, h); group classifier h(z) → |G| logits; |G| expert regressors
φ_g(z) → ŷ (one Linear(h, |G|), expert g = column g). Training routes each sample to the expert of its *true*
group; testing to the expert of the *predicted* group (argmax of h).
  L = L_grc + λ1·L_mse + λ2·L_cls                                            (paper eq. 9; λ1 = 0.5, λ2 = 1)
  L_cls = −Σ_j T_gj · log softmax(f + a·log π)_j                               (one formula for the criteria:)
      CE:          T = one-hot(g), a = 0
      LA:          T = one-hot(g), a = τ                                       (logit adjustment, Menon et al.)
      soft labels: T = q(g) = softmax(|G| − β|j − g|), a = 0                   (paper eqs. 5–6)
  L_grc: for anchor i and positive j ≠ i: −log( s(i,j) / Σ_{k≠i, |g_i−g_k| ≥ |g_i−g_j|} s(i,k) ),
         s = exp(cos(z_i, z_k)/t), averaged over ordered pairs                 (ordinal group contrast, eq. 4)
Targets are standardised on the training fold (the task undoes it for evaluation).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import Param
from ..nets import encoder, encoder_f
from ..regression import soft_label_table
from ..stack import Params, linear
from .base import Batch, Loss, Method

NEG = -1e9  # exp(NEG − max) underflows to exactly 0 next to any real entry

PAPER = ("Pu et al. Leveraging Group Classification with Descending Soft Labeling for Deep Imbalanced "
         "Regression. AAAI, 2025.")


def group_contrastive(z: torch.Tensor, g: torch.Tensor, t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ordinal group-contrastive loss per model: z (M, B, h), g (M, B) group ids, t (M,), mask (M, B) → (M,).

    For an anchor i and a positive j the denominator runs over every real k ≠ i at least as far from i in group
    distance as j: d(i, k) ≥ d(i, j). Sorting each anchor's row by distance turns those sets into suffixes of
    the sorted row, so one reverse log-cum-sum-exp per row gives every denominator: O(M·B²) memory, not the
    (M, B, B, B) mask of the direct form."""
    M, B, _ = z.shape
    zn = F.normalize(z, dim=-1)
    logits = zn @ zn.transpose(-1, -2) / t.view(-1, 1, 1)  # (M, B, B)
    d = (g[:, :, None] - g[:, None, :]).abs().float()  # (M, B, B) group distance
    real = mask.bool()
    other = ~torch.eye(B, dtype=torch.bool, device=z.device)[None] & real[:, None, :]  # k ≠ i, k real
    d_sorted, order = d.sort(dim=-1)  # (M, B, B): each anchor's k by ascending distance
    # a finite fill, not −inf: a padded row may have no k at all, and logsumexp over all −inf has a NaN gradient
    ranked = logits.masked_fill(~other, NEG).gather(-1, order)
    suffix = torch.logcumsumexp(ranked.flip(-1), dim=-1).flip(-1)  # suffix[.., p] = LSE of positions ≥ p
    first = torch.searchsorted(d_sorted.contiguous(), d.contiguous(), side="left")  # first k with d(i,k) ≥ d(i,j)
    denom = suffix.gather(-1, first)  # (M, B, B)
    pair = other & real[:, :, None]  # (i, j): both real, j ≠ i
    nll = (denom - logits).masked_fill(~pair, 0.0)
    return nll.sum((1, 2)) / pair.sum((1, 2)).clamp_min(1)


def group_contrastive_direct(z: torch.Tensor, g: torch.Tensor, t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The definition of `group_contrastive`, with its (M, B, B, B) mask: for each anchor i and positive j the
    denominator over the real k ≠ i with d(i, k) ≥ d(i, j). O(B³) memory — the reference the sorted form is
    checked against (tests/test_equations.py, bench/contrastive_memory.py), not for training."""
    M, B, _ = z.shape
    zn = F.normalize(z, dim=-1)
    logits = zn @ zn.transpose(-1, -2) / t.view(-1, 1, 1)
    d = (g[:, :, None] - g[:, None, :]).abs()
    real = mask.bool()
    other = ~torch.eye(B, dtype=torch.bool, device=z.device)[None] & real[:, None, :]
    neg = (d[:, :, None, :] >= d[:, :, :, None]) & other[:, :, None, :]
    denom = torch.logsumexp(logits[:, :, None, :].expand(M, B, B, B).masked_fill(~neg, NEG), dim=-1)
    pair = other & real[:, :, None]
    return ((denom - logits).masked_fill(~pair, 0.0)).sum((1, 2)) / pair.sum((1, 2)).clamp_min(1)


class GroupDIR(Method):
    name = "group-dir"
    task = "dir"
    title = "Group-DIR — group classifier + experts"
    paper = PAPER
    outputs = "regression"
    params = (
        Param("criterion", "choice", "soft", "group classification target: ce (one-hot), la (one-hot, logits + "
              "τ log π), soft (descending soft labels)", choices=("ce", "la", "soft")),
        Param("beta", "float", 1.0, "β of the soft labels softmax(|G| − β|i − g|)", 0.0, 20.0),
        Param("tau", "float", 1.0, "τ of the logit-adjusted group criterion", 0.0, 5.0),
        Param("lambda1", "float", 0.5, "λ1: weight of the expert regression loss", 0.0, 10.0),
        Param("lambda2", "float", 1.0, "λ2: weight of the group classification loss", 0.0, 10.0),
        Param("temperature", "float", 2.5, "t of the group-contrastive similarity exp(cos/t) (the paper's 2.5; spec §4 "
              "writes 2)", 0.01, 100.0),
        Param("contrastive", "bool", True, "use the ordinal group-contrastive loss L_grc"),
    )
    step_terms = ("loss", "grc", "mse", "cls")

    @classmethod
    def activation_bytes(cls, cfg: dict[str, Any], dims: dict[str, int]) -> float:
        """The ordinal contrastive loss keeps about a dozen (B, B) tensors per model (similarities, distances, the
        sort order and positions, the suffix sums, their gradients): ~100 bytes per pair, on top of the default."""
        return super().activation_bytes(cfg, dims) + 100.0 * cfg["batch_size"] ** 2 * cfg.get("contrastive", True)

    def build(self) -> nn.Module:
        h, G = self.cfg["hidden"], self.dims["G"]
        return nn.ModuleDict({"encoder": encoder(self.dims["d"], h), "classifier": nn.Linear(h, G),
                              "experts": nn.Linear(h, G)})

    def targets(self) -> torch.Tensor:
        """(M, G, G): row g is model m's classification target for true group g (one-hot or soft labels)."""
        G = self.dims["G"]
        soft = soft_label_table(G, self.col("beta").to(torch.float32))
        onehot = torch.eye(G, device=self.device).expand(self.M, G, G)
        return torch.where(self.flag("criterion", "soft").view(-1, 1, 1), soft, onehot)

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        g, y = b.y["g"], b.y["y"]  # (M, B) true groups, standardised targets
        z = encoder_f(P, "encoder", b.x)  # (M, B, h)
        logits, experts = linear(P, "classifier", z), linear(P, "experts", z)  # (M, B, G) each
        y_hat = experts.gather(-1, g[..., None]).squeeze(-1)  # training: the expert of the *true* group
        T = self.targets()
        target = T[torch.arange(self.M, device=self.device)[:, None], g]  # (M, B, G)
        a = torch.where(self.flag("criterion", "la"), self.col("tau"), torch.zeros(self.M, device=self.device))
        log_prior = torch.log(self.stat("group_prior").clamp_min(1e-12))  # (M, G)
        adj = logits + a.view(-1, 1, 1) * log_prior[:, None, :]
        t = {"mse": b.mean((y_hat - y) ** 2),
             "cls": b.mean(-(target * torch.log_softmax(adj, -1)).sum(-1)),
             "grc": group_contrastive(z, g, self.col("temperature"), b.mask)}
        grc = torch.where(self.flag("contrastive"), t["grc"], torch.zeros_like(t["grc"]))
        t["loss"] = grc + self.col("lambda1") * t["mse"] + self.col("lambda2") * t["cls"]
        return Loss(t, state)

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        """Test-time routing: the expert of the *predicted* group → {y (M, n) standardised, g (M, n)}."""
        z = encoder_f(P, "encoder", x)
        g_hat = linear(P, "classifier", z).argmax(-1)
        return {"y": linear(P, "experts", z).gather(-1, g_hat[..., None]).squeeze(-1), "g": g_hat}


class Regression(Method):
    name = "regression"
    task = "dir"
    title = "Plain regression (the same encoder, one linear head)"
    paper = "Yang et al. Delving into Deep Imbalanced Regression. ICML, 2021 (MSE / LDS baselines)."
    outputs = "regression"
    params = (
        Param("loss", "choice", "l2", "regression loss", choices=("l2", "l1")),
        Param("lds", "bool", False, "weight each sample by LDS: 1 / smoothed √count of its target bin, mean 1"),
    )
    step_terms = ("loss",)

    def build(self) -> nn.Module:
        return nn.ModuleDict({"encoder": encoder(self.dims["d"], self.cfg["hidden"]),
                              "head": nn.Linear(self.cfg["hidden"], 1)})

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        y_hat = linear(P, "head", encoder_f(P, "encoder", b.x)).squeeze(-1)  # (M, B)
        e = torch.where(self.flag("loss", "l1").view(-1, 1), (y_hat - b.y["y"]).abs(), (y_hat - b.y["y"]) ** 2)
        w = torch.where(self.flag("lds").view(-1, 1), b.y["w"], torch.ones_like(e))
        return Loss({"loss": b.mean(e * w)}, state)

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return {"y": linear(P, "head", encoder_f(P, "encoder", x)).squeeze(-1)}
