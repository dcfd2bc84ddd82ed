"""Classic LDL learners fitted by ADMM: LDLSF, LDL-LCLR and EDL-LRL. One epoch is one ADMM iteration
(the W step, the auxiliary variables' proximal steps, the dual ascent), on the whole fold.

- LDLSF — Ren, Jia, Li, Geng, Luo, "Label Distribution Learning with Label-Specific Features", IJCAI 2019:
  ½‖XW − D‖² + α‖W1‖₁ + β‖W2‖₂,₁ + γ tr(XW (P − R) (XW)ᵀ) s.t. W = W1 + W2 and XW·1 = 1, with R the
  correlation of the training labels and P = diag(R·1); predictions are XW projected onto the simplex.
  The W step is a linear system (Kronecker-structured: solved exactly from the SVD of X and the eigenvectors of
  the label-space matrix — the reference code approximates it by L-BFGS).
- LDL-LCLR — Ren, Jia, Li, Geng, Luo, "Label Distribution Learning with Label Correlations via Low-Rank
  Approximation" (global and local label correlation), AAAI 2019 (Eq. 7–8 the W and S sub-problems, with the
  gradients of Eq. 9–10 corrected as in the reference code): KL(D ‖ P̂) + α‖W‖² + β‖E‖₂,₁ + γ‖Z‖_* − δ Σ_v ⟨S, P_v⟩
  s.t. D = P̂S + E, Z = S; P_v the squared distances between the label columns of k-means cluster v.
  The W step runs L-BFGS (inner); the S step is exact (a C×C linear system).
- EDL-LRL — Jia, Zheng, Li, Li, Geng, "Facial Emotion Distribution Learning by Exploiting Low-Rank Label
  Correlations Locally", CVPR 2019: ½‖P̂ − D‖² + λ1‖W‖² + λ2 Σ_k ‖Z_k‖_* s.t. Z_k = P̂_k on each k-means
  cluster k of the training features; ρ grows by 1.1 per iteration (to 10⁶); the W step is 10 L-BFGS iterations.
  As in the authors' public code (NJUST-IDAM, shared with LDL-LDM), the W step's gradient uses only the diagonal
  p(1 − p) of the softmax Jacobian (`jacobian=diagonal`, the default); `jacobian=full` is the true gradient.

The defaults are the reference implementations' (PyLDL for LDLSF and LDL-LCLR, the authors' code for EDL-LRL).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from ..config import Param
from ..decouple import kl
from ..solvers import LBFGS, RowSpan, project_simplex, shrink_columns, soft_threshold, svt
from ..stack import Params
from .base import Batch
from .classic import Classic, max_iterations

EPS_ABS, EPS_REL = 1e-4, 1e-3  # the primal-dual stopping rule of Boyd et al. (2011, §3.3.1), as in PyLDL


def _fro(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1)


class _ADMM(Classic):
    def build(self) -> nn.Module:
        return nn.ParameterDict({"W": self.linear("W")})

    def fold(self, b):
        """The fold and the shared shapes: x (M, n, d), y (M, n, C), m (M, n), M, n, d, C, ρ (M,) and ρ (M, 1, 1),
        the row mask as float (M, n, 1)."""
        x, y, m = self.data(b)
        M, n, d = x.shape
        rho = self.col("rho", torch.float64)
        return x, y, m, M, n, d, y.shape[-1], rho, rho.view(-1, 1, 1), m.to(torch.float64)[..., None]

    def converged(self, constraints, duals, n) -> torch.Tensor:
        """(M,) the primal-dual rule: every ‖c₀ − c₁‖ ≤ √n·ε_abs + ε_rel·max(‖c₀‖, ‖c₁‖) and every
        ‖ρ(c₀ − c₀_old)‖ ≤ √C·ε_abs + ε_rel·‖V‖ (c₀_old from the previous iteration)."""
        rho = self.col("rho", torch.float64)
        C = self.dims["C"]
        ok = torch.ones(self.M, dtype=torch.bool, device=rho.device)
        for (c0, c1, old), V in zip(constraints, duals):
            primal = _fro(c0 - c1) <= n.sqrt() * EPS_ABS + EPS_REL * torch.maximum(_fro(c0), _fro(c1))
            dual = _fro(rho.view((-1,) + (1,) * (c0.dim() - 1)) * (c0 - old)) <= math.sqrt(C) * EPS_ABS + EPS_REL * _fro(V)
            ok = ok & primal & dual
        return ok


class LDLSF(_ADMM):
    name = "ldlsf"
    title = "LDLSF — label-specific features, ℓ1 + ℓ2,1, ADMM (Ren et al. 2019)"
    paper = "Ren, Jia, Li, Geng, Luo. Label Distribution Learning with Label-Specific Features. IJCAI, 2019."
    unused = Classic.unused + ("la_tau",)  # a least-squares model of D, no logits to adjust
    params = (
        max_iterations(100, "ADMM"),
        Param("alpha", "float", 1e-4, "α: ℓ1 weight on the label-specific part W1", 0.0, 10.0, log=True),
        Param("beta", "float", 1e-2, "β: ℓ2,1 weight on the shared part W2", 0.0, 10.0, log=True),
        Param("gamma", "float", 1e-3, "γ: label-correlation term tr(XW(P − R)(XW)ᵀ)", 0.0, 10.0, log=True),
        Param("rho", "float", 1e-3, "ρ: ADMM penalty", 1e-8, 100.0, log=True),
    )

    def iterate(self, P: Params, b: Batch) -> dict[str, torch.Tensor]:
        x, y, m, M, n, d, C, rho, r3, mf = self.fold(b)
        cnt = mf.sum(1)  # (M, 1)
        if getattr(self, "_st", None) is None:
            eye = torch.eye(d, C, dtype=torch.float64, device=x.device).expand(M, d, C)
            mean = y.sum(1) / cnt  # (M, C)
            yc = (y - mean[:, None]) * mf
            cov = yc.transpose(1, 2) @ yc
            sd = torch.diagonal(cov, dim1=1, dim2=2).clamp_min(0).sqrt()
            R = torch.nan_to_num(cov / (sd[:, :, None] * sd[:, None, :]), nan=0.0, posinf=0.0, neginf=0.0)
            PR = torch.diag_embed(R.sum(2)) - R  # (M, C, C)
            g = self.col("gamma", torch.float64).view(-1, 1, 1)
            K = torch.eye(C, dtype=torch.float64, device=x.device) + r3 * torch.ones(C, C, dtype=torch.float64, device=x.device) + g * (PR + PR.transpose(1, 2))
            gam, Q = torch.linalg.eigh(K)  # K = Q Γ Qᵀ (symmetric)
            _, s, Vh = torch.linalg.svd(x, full_matrices=False)  # XᵀX = Vhᵀ S² Vh
            self._sys = (gam, Q, s, Vh)
            self._st = dict(W1=0.5 * eye.clone(), W2=0.5 * eye.clone(), V=torch.zeros(M, d, C, dtype=torch.float64, device=x.device),
                            V2=torch.zeros(M, n, 1, dtype=torch.float64, device=x.device))
            self._done = torch.zeros(M, dtype=torch.bool, device=x.device)
        gam, Q, s, Vh = self._sys
        st = self._st
        old_c0 = st["W1"] + st["W2"]
        # W step: XᵀX W K + ρ W = XᵀD − V + ρ(W1 + W2) − XᵀV2·1ᵀ + ρ Xᵀ1·1ᵀ, K = I + ρ11ᵀ + γ(PR + PRᵀ)
        xt = x.transpose(1, 2)
        ones = torch.ones(1, C, dtype=torch.float64, device=x.device)
        rhs = xt @ y - st["V"] + r3 * old_c0 - (xt @ st["V2"]) @ ones + r3 * (xt @ mf) @ ones
        proj = Vh @ rhs  # (M, r, C)
        A = ((proj @ Q) / (s[..., None] ** 2 * gam[:, None, :] + r3)) @ Q.transpose(1, 2)
        W = Vh.transpose(1, 2) @ A + (rhs - Vh.transpose(1, 2) @ proj) / r3
        W1 = soft_threshold(W - st["W2"] + st["V"] / r3, self.col("alpha", torch.float64) / rho)
        W2 = shrink_columns(W - W1 + st["V"] / r3, self.col("beta", torch.float64) / rho)
        V = st["V"] + r3 * (W - W1 - W2)
        rowsum = (x @ W).sum(-1, keepdim=True)  # (M, n, 1)
        V2 = st["V2"] + r3 * (rowsum - 1.0) * mf
        new = dict(W1=W1, W2=W2, V=V, V2=V2, W=W)
        old = {**st, "W": P["W"].detach()}
        upd = self.freeze(self._done, old, new)
        with torch.no_grad():
            P["W"].copy_(upd.pop("W"))
        self._st = upd
        Wn = P["W"].detach()
        rs = (x @ Wn).sum(-1, keepdim=True)
        self._done = self._done | self.converged(
            [(upd["W1"] + upd["W2"], Wn, old_c0), (mf, rs * mf, mf)], [upd["V"], upd["V2"]], cnt[:, 0])
        loss = 0.5 * ((x @ Wn - y) ** 2 * mf).flatten(1).sum(1) / cnt[:, 0]
        return {"loss": loss}

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return project_simplex(self.features(x) @ P["W"])


class LDLLCLR(_ADMM):
    name = "ldl-lclr"
    title = "LDL-LCLR — global + local label correlation, low rank, ADMM (Ren et al. 2019)"
    paper = ("Ren, Jia, Li, Geng, Luo. Label Distribution Learning with Label Correlations via Low-Rank "
             "Approximation. AAAI, 2019.")
    params = (
        max_iterations(100, "ADMM"),
        Param("clusters", "int", 4, "k-means clusters of the training label distributions (local correlation)", 1, 100, 1),
        Param("alpha", "float", 1e-4, "α: ‖W‖² weight", 0.0, 10.0, log=True),
        Param("beta", "float", 1e-4, "β: ℓ2,1 weight on the residual E", 0.0, 10.0, log=True),
        Param("gamma", "float", 1e-4, "γ: nuclear-norm weight on Z = S (global low rank)", 0.0, 10.0, log=True),
        Param("delta", "float", 1e-4, "δ: local label-correlation weight", 0.0, 10.0, log=True),
        Param("rho", "float", 1e-4, "ρ: ADMM penalty", 1e-8, 100.0, log=True),
        Param("inner", "int", 15000, "L-BFGS iterations at most per W step (scipy's default cap)", 1, 100000, 1),
        Param("gtol", "float", 1e-5, "the W step stops when every |gradient| ≤ gtol", 1e-12, 1.0, log=True),
    )
    shape_keys = ("epochs", "clusters", "inner")  # the W step's iteration cap is a loop bound, shared by the stack

    def iterate(self, P: Params, b: Batch) -> dict[str, torch.Tensor]:
        x, y, m, M, n, d, C, rho, r3, mf = self.fold(b)
        cnt = mf.sum(1)[:, 0]
        eye = torch.eye(C, dtype=torch.float64, device=x.device)
        if getattr(self, "_st", None) is None:
            k = int(self.cfg["clusters"])
            member = self.onehot(self.clusters(y, m, k), k)  # (M, k, n)
            cols = (y[:, None] * member[..., None]).transpose(-1, -2)  # (M, k, C, n)
            Pv = torch.cdist(cols, cols) ** 2  # (M, k, C, C) ‖D^v_·a − D^v_·b‖²
            self._sumP = self.col("delta", torch.float64).view(-1, 1, 1) * Pv.sum(1)
            self._st = dict(S=eye.expand(M, C, C).clone(), E=torch.zeros(M, n, C, dtype=torch.float64, device=x.device),
                            Z=eye.expand(M, C, C).clone(), V=torch.zeros(M, n, C, dtype=torch.float64, device=x.device),
                            V2=torch.zeros(M, C, C, dtype=torch.float64, device=x.device))
            self._done = torch.zeros(M, dtype=torch.bool, device=x.device)
        st = self._st
        if getattr(self, "_span", None) is None and n < d:  # W stays in the span of the rows: solve there
            self._span, self._U = RowSpan(x), torch.zeros(M, n, C, dtype=torch.float64, device=x.device)
        span = getattr(self, "_span", None)
        w_step = self.w_value_and_grad(x, y, m, st, span)
        opt = LBFGS(None, self._U if span is not None else P["W"].detach(), gtol=self.col("gtol", torch.float64),
                    grad=w_step)
        opt.done = opt.done | self._done
        W = opt.run(int(self.cfg["inner"]))
        if span is not None:
            self._U = W
            W = span.to_w(W)
        with torch.no_grad():
            p = torch.softmax(self.adjust(x @ W), -1) * mf
        # S step (exact; Eq. 8's minimiser): ρ(I + P̂ᵀP̂) S = P̂ᵀΓ1 − Γ2 + ρZ + ρP̂ᵀ(D − E) + δΣ_v P_v
        pt = p.transpose(1, 2)
        S = torch.linalg.solve(r3 * (eye + pt @ p),
                               pt @ st["V"] - st["V2"] + r3 * st["Z"] + r3 * (pt @ (y - st["E"])) + self._sumP)
        E = shrink_columns((y - p @ S + st["V"] / r3) * mf, self.col("beta", torch.float64) / rho)
        Z = svt(S + st["V2"] / r3, self.col("gamma", torch.float64) / rho)
        resid = (y - p @ S) * mf
        V = st["V"] + r3 * (resid - E)
        V2 = st["V2"] + r3 * (S - Z)
        upd = self.freeze(self._done, {**st, "W": P["W"].detach()}, dict(S=S, E=E, Z=Z, V=V, V2=V2, W=W))
        old_E, old_Z = st["E"], st["Z"]
        with torch.no_grad():
            P["W"].copy_(upd.pop("W"))
        self._st = upd
        with torch.no_grad():
            p = torch.softmax(x @ P["W"], -1) * mf
        self._done = self._done | self.converged(
            [(upd["E"], (y - p @ upd["S"]) * mf, old_E), (upd["Z"], upd["S"], old_Z)], [upd["V"], upd["V2"]], cnt)
        logp = torch.log_softmax(x @ P["W"].detach(), -1)
        return {"loss": (kl(y, logp) * m).sum(1) / cnt}

    def w_value_and_grad(self, x, y, m, st, span: RowSpan | None = None):
        """The W sub-problem (Eq. 7) f(W) = KL(D ‖ P̂) + ⟨Γ1, R⟩ + α‖W‖² + ρ/2‖R‖², R = D − P̂S − E, with its gradient
        written out (the reference code's corrected Eq. 9): ∂f/∂P̂ = G = −(Γ1 + ρR)Sᵀ, through the softmax
        ∂f/∂z = P̂ − D + P̂ ⊙ (G − (P̂ ⊙ G)1 1ᵀ), and ∂f/∂W = Xᵀ ∂f/∂z + 2αW. x (M, n, d), W (M, d, C) → (M,), (M, d, C).
        With `span`, the same function of the row-span coordinates U (M, n, C): XW = LU, ‖W‖ = ‖U‖."""
        alpha, rho = self.col("alpha", torch.float64), self.col("rho", torch.float64)
        mf = m.to(torch.float64)[..., None]
        xt = x.transpose(1, 2)
        ysum = y.sum(-1, keepdim=True)  # 1 on real rows, 0 on padding

        def fg(W):
            logp = torch.log_softmax(self.adjust(span.xw(W) if span is not None else x @ W), -1)
            p = logp.exp()
            R = (y - (p @ st["S"]) - st["E"]) * mf
            f = ((kl(y, logp) * m).sum(1) + (st["V"] * R).flatten(1).sum(1) + alpha * (W ** 2).flatten(1).sum(1)
                 + 0.5 * rho * (R ** 2).flatten(1).sum(1))
            G = -(st["V"] + rho.view(-1, 1, 1) * R) @ st["S"].transpose(1, 2)
            dz = (p * ysum - y + p * (G - (p * G).sum(-1, keepdim=True))) * mf
            return f, (span.grad(dz) if span is not None else xt @ dz) + 2.0 * alpha.view(-1, 1, 1) * W

        return fg

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return torch.softmax(self.features(x) @ P["W"], -1)


class _DiagSoftmax(torch.autograd.Function):
    """softmax(z) whose backward uses only the Jacobian's diagonal p(1 − p) — the W-step gradient of the EDL-LRL
    reference code (`jacobian=diagonal`)."""

    @staticmethod
    def forward(ctx, z):
        p = torch.softmax(z, -1)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, g):
        (p,) = ctx.saved_tensors
        return g * (p - p * p)


class EDLLRL(_ADMM):
    name = "edl-lrl"
    title = "EDL-LRL — low-rank label correlation on local clusters, ADMM (Jia et al. 2019)"
    paper = ("Jia, Zheng, Li, Li, Geng. Facial Emotion Distribution Learning by Exploiting Low-Rank Label "
             "Correlations Locally. CVPR, 2019.")
    unused = Classic.unused + ("la_tau",)
    params = (
        max_iterations(50, "ADMM"),
        Param("clusters", "int", 5, "m: k-means clusters of the training features", 1, 100, 1),
        Param("lambda1", "float", 1e-3, "λ1: ‖W‖² weight", 0.0, 10.0, log=True),
        Param("lambda2", "float", 1e-2, "λ2: nuclear-norm weight on each cluster's predictions", 0.0, 10.0, log=True),
        Param("rho", "float", 1e-6, "ρ at the first iteration (× 1.1 per iteration, at most 10⁶)", 1e-10, 1e6, log=True),
        Param("inner", "int", 10, "L-BFGS iterations per W step", 1, 10000, 1),
        Param("gtol", "float", 1e-3, "the W step stops when every |gradient| ≤ gtol", 1e-12, 1.0, log=True),
        Param("jacobian", "choice", "diagonal", "W-step gradient: the reference code's diagonal p(1 − p) of the "
              "softmax Jacobian, or the full (true) gradient", choices=("diagonal", "full")),
    )
    shape_keys = ("epochs", "clusters", "jacobian", "inner")

    def build(self) -> nn.Module:
        w = self.linear("W")
        with torch.no_grad():
            w.uniform_(0.0, 1.0)  # the reference code: np.random.rand
        return nn.ParameterDict({"W": w})

    def _p(self, z):
        return _DiagSoftmax.apply(z) if self.cfg["jacobian"] == "diagonal" else torch.softmax(z, -1)

    def _objective1(self, W, x, y, mf, Z, member):
        """The objective of the problem, ½‖P̂ − D‖² + λ1‖W‖² + λ2 Σ_k ‖Z_k‖_*, per model (M,)."""
        p = torch.softmax(x @ W, -1) * mf
        nuc = torch.linalg.matrix_norm(member[..., None] * Z[:, None], ord="nuc").sum(1)
        return (0.5 * ((p - y) ** 2).flatten(1).sum(1) + self.col("lambda1", torch.float64) * (W ** 2).flatten(1).sum(1)
                + self.col("lambda2", torch.float64) * nuc)

    def iterate(self, P: Params, b: Batch) -> dict[str, torch.Tensor]:
        x, y, m = self.data(b)
        M, n, d = x.shape
        mf = m.to(torch.float64)[..., None]
        cnt = mf.sum(1)[:, 0]
        if getattr(self, "_st", None) is None:
            k = int(self.cfg["clusters"])
            self._member = self.onehot(self.clusters(x, m, k), k)  # (M, k, n)
            zeros = torch.zeros(M, n, y.shape[-1], dtype=torch.float64, device=x.device)
            self._st = dict(Z=zeros, L=zeros.clone(), rho=self.col("rho", torch.float64))
            self._st["loss"] = self._objective1(P["W"].detach(), x, y, mf, zeros, self._member)
            self._done = torch.zeros(M, dtype=torch.bool, device=x.device)
        st, member = self._st, self._member
        rho = st["rho"]
        r3 = rho.view(-1, 1, 1)
        lam1 = self.col("lambda1", torch.float64)

        def w_objective(W):  # ½‖P̂ − D‖² + ⟨Λ, P̂ − Z⟩ + ρ/2‖P̂ − Z‖² + λ1‖W‖², over every cluster's rows
            p = self._p(x @ W) * mf
            return (0.5 * ((p - y) ** 2).flatten(1).sum(1) + (st["L"] * (p - st["Z"])).flatten(1).sum(1)
                    + 0.5 * rho * ((p - st["Z"]) ** 2).flatten(1).sum(1) + lam1 * (W ** 2).flatten(1).sum(1))

        opt = LBFGS(w_objective, P["W"].detach(), gtol=self.col("gtol", torch.float64))
        opt.done = opt.done | self._done
        W = opt.run(int(self.cfg["inner"]))
        p = torch.softmax(x @ W, -1) * mf
        # Z_k = SVT(P̂_k + Λ_k/ρ, λ2/ρ) on each cluster's rows; the clusters partition the rows
        A = member[..., None] * (p + st["L"] / r3)[:, None]  # (M, k, n, C)
        tau = (self.col("lambda2", torch.float64) / rho)[:, None].expand(M, member.shape[1]).reshape(-1)
        Z = (svt(A.flatten(0, 1), tau).view_as(A) * member[..., None]).sum(1)
        L = st["L"] + r3 * (p - Z)
        loss_new = self._objective1(W, x, y, mf, Z, member)
        stop = ((st["loss"] - loss_new).abs() < 1e-8) | (loss_new > st["loss"])  # the reference's rule (W kept)
        new = dict(Z=Z, L=L, W=W, loss=loss_new, rho=torch.clamp(rho * 1.1, max=1e6))
        upd = self.freeze(self._done, {**st, "W": P["W"].detach()}, new)
        with torch.no_grad():
            P["W"].copy_(upd.pop("W"))
        self._st = upd
        # as in the reference, the iteration that meets the rule keeps its W; its ρ does not grow any more
        self._done = self._done | stop
        return {"loss": upd["loss"] / cnt}

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return torch.softmax(self.features(x) @ P["W"], -1)
