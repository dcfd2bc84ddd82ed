"""Adam-LDL-SCL — label distribution learning exploiting sample correlations locally, fitted by Adam.

Jia, Li, Zheng, Geng, "Label Distribution Learning with Label Correlations on Local Samples", IEEE TKDE 33(4),
2021 (Adam-LDL-SCL; LDL-SCL: Zheng, Jia, Li, AAAI 2018); spec §3c. Each training sample i carries a code c_i ∈ R^K
(K k-means clusters of the training label distributions, centres P_k) and
    p_i = softmax(x_i Θ + c_i W),                       Θ (d, C), W (K, C), c_i (K,) > 0
    L = mean_i KL(D_i ‖ p_i) + α · mean_{i,k} c_ik ‖p_i − P_k‖²/C + β · mean_{i,k} 1/c_ik
(the local-correlation term pulls p_i toward the centres its code weighs; 1/c keeps the codes positive).
A test sample's code is predicted from its features by least squares fitted on the training codes
(`ildl.solvers.centred_lstsq`, minimum norm when n < d). Full-batch Adam (lr 1e-3, 1000 epochs), codes
clamped at float32's eps after each step — the defaults and initialisation of PyLDL's LDL_SCL (Θ Glorot-uniform,
W ~ N(0, 0.05²), codes = eps). The authors' group code (NJUST-IDAM) instead initialises the codes one-hot, sums
rather than averages, adds ‖Θ‖² and ‖W‖² terms and lets the barrier weight decay by 10× per step; that variant
is not implemented (docs/methods.md).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from ..config import Param
from ..decouple import kl
from ..optim import AdamW
from ..solvers import centred_lstsq
from ..stack import Params
from .base import Batch
from .classic import FLOAT32_EPS, Classic, max_iterations


class AdamLDLSCL(Classic):
    name = "adam-ldl-scl"
    title = "Adam-LDL-SCL — local sample correlations through cluster codes (Jia et al. 2021)"
    paper = ("Jia, Li, Zheng, Geng. Label Distribution Learning with Label Correlations on Local Samples. "
             "IEEE TKDE 33(4), 2021.")
    unused = ("batch_size", "weight_decay", "hidden")  # full-batch Adam: the learning rate stays
    defaults = {"lr": 1e-3}
    params = (
        max_iterations(1000, "Adam"),
        Param("clusters", "int", 5, "K: k-means clusters of the training label distributions", 1, 100, 1),
        Param("alpha", "float", 1e-3, "α: local-correlation weight", 0.0, 10.0, log=True),
        Param("beta", "float", 1e-3, "β: weight of the 1/c barrier that keeps the codes positive", 0.0, 10.0, log=True),
    )
    shape_keys = ("epochs", "clusters")

    def build(self) -> nn.Module:
        if "n" not in self.dims:
            raise ValueError("adam-ldl-scl keeps one code per training sample: dims must give n (the engine does)")
        d, C, K, n = self.dims["d"], self.dims["C"], int(self.cfg["clusters"]), self.dims["n"]
        a = math.sqrt(6.0 / (d + C))
        theta = nn.Parameter(torch.empty(d, C, dtype=torch.float64).uniform_(-a, a))  # Glorot uniform
        W = nn.Parameter(torch.randn(K, C, dtype=torch.float64) * 0.05)
        codes = nn.Parameter(torch.full((n, K), FLOAT32_EPS, dtype=torch.float64))
        return nn.ParameterDict({"theta": theta, "W": W, "codes": codes})

    def _terms(self, P, x, y, m):
        p_logits = self.adjust(x @ P["theta"] + P["codes"] @ P["W"])  # (M, n, C)
        logp = torch.log_softmax(p_logits, -1)
        p = logp.exp()
        mf = m.to(p.dtype)
        cnt = mf.sum(1).clamp_min(1)
        K = self._centres.shape[1]
        fit = (kl(y, logp) * mf).sum(1) / cnt
        dist = ((p[:, :, None, :] - self._centres[:, None]) ** 2).mean(-1)  # (M, n, K) ‖p_i − P_k‖²/C
        corr = (P["codes"] * dist * mf[..., None]).flatten(1).sum(1) / (cnt * K)
        barrier = ((1.0 / P["codes"]) * mf[..., None]).flatten(1).sum(1) / (cnt * K)
        return fit, corr, barrier

    def iterate(self, P: Params, b: Batch) -> dict[str, torch.Tensor]:
        x, y, m = self.data(b)
        if getattr(self, "_opt", None) is None:
            K = int(self.cfg["clusters"])
            labels = self.clusters(y, m, K)
            onehot = self.onehot(labels, K)  # (M, K, n)
            self._centres = (onehot @ y) / onehot.sum(2, keepdim=True).clamp_min(1)  # (M, K, C)
            self._pinv, self._xbar = centred_lstsq(x, m)  # for the test codes
            self._mask = m
            names = ["theta", "W", "codes"]
            zero = torch.zeros(self.M, dtype=torch.float64, device=x.device)
            self._opt = AdamW([P[k] for k in names], self.col("lr", torch.float64), [zero] * 3, eps=1e-7)
        fit, corr, barrier = self._terms(P, x, y, m)
        loss = fit + self.col("alpha", torch.float64) * corr + self.col("beta", torch.float64) * barrier
        grads = torch.autograd.grad(loss.sum(), [P["theta"], P["W"], P["codes"]])
        active = torch.ones(self.M, dtype=torch.bool, device=x.device)
        self._opt.step(list(grads), active)
        with torch.no_grad():
            P["codes"].clamp_(min=FLOAT32_EPS)
        return {"loss": loss.detach(), "kl": fit.detach()}

    step_terms = ("loss", "kl")

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        if getattr(self, "_pinv", None) is None:
            raise RuntimeError("adam-ldl-scl predicts after its first iteration (the test codes need the training ones)")
        x = self.features(x)
        mf = self._mask.to(x.dtype)[..., None]
        c = P["codes"] * mf
        cbar = c.sum(1) / mf.sum(1).clamp_min(1)  # (M, K)
        beta = self._pinv @ ((c - cbar[:, None]) * mf)  # (M, d, K)
        codes = (x - self._xbar[:, None]) @ beta + cbar[:, None]
        return torch.softmax(x @ P["theta"] + codes @ P["W"], -1)
