"""Full-batch solvers on a stack of M models: L-BFGS, k-means and the proximal maps of the classic LDL
learners (`ildl.methods.maxent`, `.admm`, `.scl`). Every tensor keeps the leading model axis M; models never
interact, and a model that has converged stops moving while the others go on.

Shapes: parameters x (M, …); objective values (M,); padded rows carry a mask (M, n) and never count.
"""
from __future__ import annotations

from typing import Callable

import torch

Objective = Callable[[torch.Tensor], torch.Tensor]  # x (M, …) → f (M,), differentiable


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-model inner product: (M, …) · (M, …) → (M,)."""
    return (a * b).flatten(1).sum(1)


def value_and_grad(fun: Objective, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f (M,) and ∂f_m/∂x_m (M, …): the models are independent, so the gradient of Σ_m f_m is each one's own."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        f = fun(x)
        (g,) = torch.autograd.grad(f.sum(), x)
    return f.detach(), g.detach()


class LBFGS:
    """Limited-memory BFGS (Nocedal & Wright, Numerical Optimization, Alg. 7.4 two-loop recursion, Eq. 7.20
    initial scaling γ = sᵀy / yᵀy) for M independent problems at once, with a per-model backtracking Armijo
    line search (c₁ = 1e-4). The first step is scaled to ‖step‖ ≤ 1, as L-BFGS-B does. A pair with sᵀy ≤ 0
    (a failed curvature condition) is not stored, so the inverse-Hessian estimate stays positive definite.

    Stopping per model, as scipy's L-BFGS-B: max |g| ≤ gtol, or (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ ftol,
    or a line search that finds no decrease. `done` (M,) marks the stopped models; they never move again.

    `fun` maps x (M, …) to f (M,) and is differentiated by autograd, unless `grad` is given: x → (f, ∂f/∂x), a
    hand-written gradient (each one has a finite-difference test). Internally x is flat, (M, N)."""

    def __init__(self, fun: Objective, x: torch.Tensor, *, history: int = 10, gtol: float | torch.Tensor = 1e-5,
                 ftol: float = 2.220446049250313e-09, max_halvings: int = 30,
                 grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None):
        self.shape = tuple(x.shape)
        self.m, self.gtol, self.ftol, self.max_halvings = history, gtol, ftol, max_halvings
        self._fun, self._grad = fun, grad
        M = x.shape[0]
        self.x = x.detach().reshape(M, -1).clone()
        self.f, self.g = self.evaluate(self.x)
        N = self.x.shape[1]
        self.S = torch.zeros(M, history, N, dtype=x.dtype, device=x.device)
        self.Y = torch.zeros_like(self.S)
        self.rho = torch.zeros(M, history, dtype=x.dtype, device=x.device)  # 1 / sᵀy of a stored pair, 0 if none
        self.yy = torch.ones(M, history, dtype=x.dtype, device=x.device)
        self.slot = 0
        self.k = 0
        self.done = self.g.abs().amax(1) <= gtol
        self.evals = 1

    def evaluate(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = flat.view(self.shape)
        f, g = self._grad(x) if self._grad is not None else value_and_grad(self._fun, x)
        return f.detach(), g.detach().reshape(flat.shape)

    def _direction(self) -> torch.Tensor:
        """−H g by the two-loop recursion over each model's stored pairs (newest first; an empty slot has ρ = 0
        and contributes nothing)."""
        q = -self.g
        order = [(self.slot - 1 - i) % self.m for i in range(self.m)]
        alpha = torch.zeros_like(self.rho)
        for j in order:
            alpha[:, j] = self.rho[:, j] * (self.S[:, j] * q).sum(1)
            q = q - alpha[:, j, None] * self.Y[:, j]
        newest = (self.slot - 1) % self.m
        has = self.rho[:, newest] > 0
        gamma = torch.where(has, 1.0 / (self.rho[:, newest] * self.yy[:, newest]).clamp_min(1e-300),
                            torch.ones_like(self.yy[:, newest]))
        r = gamma[:, None] * q
        for j in reversed(order):
            beta = self.rho[:, j] * (self.Y[:, j] * r).sum(1)
            r = r + (alpha[:, j] - beta)[:, None] * self.S[:, j]
        return r

    @torch.no_grad()
    def step(self) -> torch.Tensor:
        """One iteration of every model not done; returns x (M, …)."""
        if bool(self.done.all()):
            return self.x.view(self.shape)
        M = self.x.shape[0]
        d = self._direction()
        slope = (self.g * d).sum(1)
        bad = slope >= 0  # not a descent direction (numerical trouble): restart from steepest descent
        first = bad | (self.k == 0)
        if bool(bad.any()):
            d = torch.where(bad[:, None], -self.g, d)
            slope = torch.where(bad, -(self.g * self.g).sum(1), slope)
            self.rho[bad] = 0.0
        t = torch.ones(M, dtype=self.x.dtype, device=self.x.device)
        if bool(first.any()):
            t = torch.where(first, torch.clamp(1.0 / d.norm(dim=1).clamp_min(1e-300), max=1.0), t)
        active = ~self.done
        accepted = torch.zeros(M, dtype=torch.bool, device=self.x.device)
        f_new, g_new, x_new = self.f.clone(), self.g.clone(), self.x.clone()
        for _ in range(self.max_halvings):
            trial = self.x + t[:, None] * d
            f_t, g_t = self.evaluate(trial)
            self.evals += 1
            ok = active & ~accepted & torch.isfinite(f_t) & (f_t <= self.f + 1e-4 * t * slope)
            f_new = torch.where(ok, f_t, f_new)
            g_new = torch.where(ok[:, None], g_t, g_new)
            x_new = torch.where(ok[:, None], trial, x_new)
            accepted |= ok
            if bool((accepted | ~active).all()):
                break
            t = torch.where(accepted, t, t * 0.5)
        stalled = active & ~accepted
        s, y = x_new - self.x, g_new - self.g
        sy, yy = (s * y).sum(1), (y * y).sum(1)
        store = accepted & (sy > 1e-10 * yy.sqrt() * s.norm(dim=1))
        self.S[:, self.slot] = torch.where(store[:, None], s, self.S[:, self.slot])
        self.Y[:, self.slot] = torch.where(store[:, None], y, self.Y[:, self.slot])
        self.rho[:, self.slot] = torch.where(store, 1.0 / torch.where(store, sy, torch.ones_like(sy)),
                                             torch.zeros_like(sy))
        self.yy[:, self.slot] = torch.where(store, yy, torch.ones_like(yy))
        self.slot = (self.slot + 1) % self.m
        rel = (self.f - f_new) / torch.maximum(torch.maximum(self.f.abs(), f_new.abs()), torch.ones_like(f_new))
        self.x, self.f, self.g = x_new, f_new, g_new
        self.k += 1
        self.done = self.done | stalled | (accepted & ((rel <= self.ftol) | (g_new.abs().amax(1) <= self.gtol)))
        return self.x.view(self.shape)

    def run(self, max_iter: int) -> torch.Tensor:
        for _ in range(max_iter):
            if bool(self.done.all()):
                break
            self.step()
        return self.x.view(self.shape)


def soft_threshold(a: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """argmin_x ½‖x − a‖² + τ‖x‖₁ elementwise: sign(a)·max(|a| − τ, 0). a (M, …), τ (M,)."""
    tau = tau.view((-1,) + (1,) * (a.dim() - 1))
    return torch.sign(a) * (a.abs() - tau).clamp_min(0.0)


def shrink_columns(a: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Column-group shrinkage of a (M, r, c): column j scaled by max(‖a_·j‖ − τ, 0) / ‖a_·j‖ — the ℓ2,1 map
    over columns (Chen et al. 2014), with the threshold τ as the reference code writes it."""
    norms = a.norm(dim=1, keepdim=True)  # (M, 1, c)
    tau = tau.view(-1, 1, 1)
    scale = torch.where(norms > tau, (norms - tau) / norms.clamp_min(1e-300), torch.zeros_like(norms))
    return a * scale


def svt(a: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Singular-value thresholding (Cai, Candès & Shen 2010): U max(Σ − τ, 0) Vᵀ, the proximal map of τ‖·‖_*.
    a (M, …, r, c), τ (M,)."""
    U, s, Vh = torch.linalg.svd(a, full_matrices=False)
    s = (s - tau.view((-1,) + (1,) * (s.dim() - 1))).clamp_min(0.0)
    return U @ (s[..., :, None] * Vh)


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of v (…, C) onto the probability simplex (Condat 2016's sort method)."""
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = (u.cumsum(-1) - 1.0) / torch.arange(1, v.shape[-1] + 1, dtype=v.dtype, device=v.device)
    k = (u > css).sum(-1, keepdim=True) - 1
    theta = css.gather(-1, k)
    return (v - theta).clamp_min(0.0)


def kmeans(x: torch.Tensor, mask: torch.Tensor, k: int, generators: list[torch.Generator],
           iters: int = 300, restarts: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007), the best of `restarts` by inertia,
    per model on its own rows. x (M, n, p), mask (M, n) → labels (M, n) (−1 on padding), centres (M, k, p).
    Seeding uses each model's own generator (CPU), so a model's clusters do not depend on its stack."""
    M, n, p = x.shape
    labels = torch.full((M, n), -1, dtype=torch.long)
    centres = torch.zeros(M, k, p, dtype=x.dtype)
    xs, ms = x.detach().cpu(), mask.cpu()
    for i in range(M):
        pts = xs[i][ms[i]]
        kk = min(k, len(pts))
        best = None
        for _ in range(restarts):
            c = pts[torch.randint(len(pts), (1,), generator=generators[i])]
            for _ in range(1, kk):
                d2 = torch.cdist(pts, c).pow(2).min(1).values
                pick = torch.multinomial(d2 + 1e-300 if float(d2.sum()) > 0 else torch.ones_like(d2), 1,
                                         generator=generators[i])
                c = torch.cat([c, pts[pick]])
            for _ in range(iters):
                lab = torch.cdist(pts, c).argmin(1)
                new = torch.stack([pts[lab == j].mean(0) if bool((lab == j).any()) else c[j] for j in range(kk)])
                if torch.equal(new, c):
                    break
                c = new
            lab = torch.cdist(pts, c).argmin(1)
            inertia = float(((pts - c[lab]) ** 2).sum())
            if best is None or inertia < best[0]:
                best = (inertia, lab, c)
        labels[i, ms[i]] = best[1]
        centres[i, :kk] = best[2]
    return labels.to(x.device), centres.to(x.device)


def centred_lstsq(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear map of an ordinary least-squares fit with intercept, minimum-norm where n < d (what
    scikit-learn's LinearRegression returns): for targets t (M, n, q), β = pinv(X − x̄)(t − t̄) and
    prediction(x') = (x' − x̄) β + t̄. Returns (pinv (M, d, n), x̄ (M, d)); padding rows are zeroed."""
    m = mask.to(x.dtype)[..., None]
    cnt = m.sum(1).clamp_min(1.0)
    mean = (x * m).sum(1) / cnt
    xc = (x - mean[:, None]) * m
    return torch.linalg.pinv(xc), mean


def barycenter_weights(cols: torch.Tensor, reg: float = 1e-3) -> torch.Tensor:
    """Locally-linear reconstruction of each label column from all the others (Roweis & Saul 2000, every other
    column a neighbour): cols (M, C, n) → Z (M, C, C) with zero diagonal, rows summing to 1, where row j solves
    min ‖c_j − Σ_k Z_jk c_k‖² s.t. Σ_k Z_jk = 1, with the Gram matrix regularised by reg·trace (scikit-learn's
    barycenter_weights)."""
    M, C, n = cols.shape
    Z = torch.zeros(M, C, C, dtype=cols.dtype, device=cols.device)
    for j in range(C):
        others = [k for k in range(C) if k != j]
        D = cols[:, others] - cols[:, j:j + 1]  # (M, C−1, n)
        G = D @ D.transpose(1, 2)  # (M, C−1, C−1)
        tr = torch.diagonal(G, dim1=1, dim2=2).sum(1)
        R = torch.where(tr > 0, reg * tr, torch.full_like(tr, reg))
        G = G + R[:, None, None] * torch.eye(C - 1, dtype=cols.dtype, device=cols.device)
        w = torch.linalg.solve(G, torch.ones(M, C - 1, 1, dtype=cols.dtype, device=cols.device))[..., 0]
        Z[:, j, others] = w / w.sum(1, keepdim=True)
    return Z


class RowSpan:
    """W = Xᵀ Q Λ^{-1/2} U for X (M, n, d) with n < d, XXᵀ = Q Λ Qᵀ: the span of the training rows, in coordinates
    U (M, n, C) where ‖W‖_F = ‖U‖_F and XW = Q Λ^{1/2} U (an isometry onto the span). Gradient steps from W = 0
    never leave this span (∂f/∂W = Xᵀ(·) + 2αW), so L-BFGS on U takes exactly the steps L-BFGS on W would, on n·C
    instead of d·C numbers. Directions with λ ≤ 1e-12·λ_max (padding rows, repeated rows) are left out (their
    coordinates stay 0)."""

    def __init__(self, x: torch.Tensor):
        lam, Q = torch.linalg.eigh(x @ x.transpose(1, 2))  # (M, n), (M, n, n)
        keep = lam > 1e-12 * lam.amax(1, keepdim=True).clamp_min(1e-300)
        self.L = Q * torch.where(keep, lam.clamp_min(0).sqrt(), torch.zeros_like(lam))[:, None, :]  # XW = L U
        inv = torch.where(keep, 1.0 / lam.clamp_min(1e-300).sqrt(), torch.zeros_like(lam))
        self.to_w_map = x.transpose(1, 2) @ (Q * inv[:, None, :])  # (M, d, n): W = to_w_map U

    def xw(self, U: torch.Tensor) -> torch.Tensor:
        return self.L @ U

    def grad(self, dz: torch.Tensor) -> torch.Tensor:
        """∂f/∂U for ∂f/∂(XW) = dz (M, n, C): Lᵀ dz."""
        return self.L.transpose(1, 2) @ dz

    def to_w(self, U: torch.Tensor) -> torch.Tensor:
        return self.to_w_map @ U
