"""The classic LDL learners (spec §3c): their objectives against hand-computed values, each solver step against
the sub-problem it claims to solve, the shared solvers against their definitions, and stacks against single
models."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from helpers import ldl_stats
from ildl import report, solvers
from ildl.engine import Trainer
from ildl.methods import REGISTRY, Batch
from ildl.methods.admm import _DiagSoftmax
from ildl.stack import pad

CLASSIC = ("sa-bfgs", "edl-lrl", "ldlsf", "ldl-lclr", "adam-ldl-scl", "ldl-ldm")
f64 = torch.float64


def problem(n=9, d=4, C=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.dirichlet(np.ones(C), n)
    return x, y


def make(name, data, cfg=None, seeds=None):
    """A stack of `name` over the (x, y) problems in `data` (one model each), and its full batch."""
    entry = REGISTRY[name]
    cfgs = [entry.config(cfg or {})] * len(data)
    dims = {"d": data[0][0].shape[1], "C": data[0][1].shape[1], "n": max(len(x) for x, _ in data)}
    stats = [ldl_stats(dims["C"]) for _ in data]
    tr = Trainer(entry.cls, cfgs, stats, dims, seeds or list(range(len(data))))
    x = pad([x.astype(np.float32) for x, _ in data], torch.device("cpu"))
    y = pad([y.astype(np.float32) for _, y in data], torch.device("cpu"))
    mask = torch.zeros(len(data), dims["n"], dtype=torch.bool)
    for i, (xi, _) in enumerate(data):
        mask[i, :len(xi)] = True
    return tr, Batch(x=x, y={"y": y}, mask=mask)


def np_kl(y, p):
    return float(np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / p), 0.0)))


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def x32(x):
    """The features as the method sees them (float32 rows, as every task gives them)."""
    return x.astype(np.float32).astype(np.float64)


# -- objectives against hand-computed values ----------------------------------------------------------------

def test_sa_bfgs_objective_is_the_summed_kl_of_the_maxent_model():
    x, y = problem()
    tr, b = make("sa-bfgs", [(x, y)])
    W = np.random.default_rng(1).normal(size=(4, 3))
    xs, ys, m = tr.method.data(b)
    got = tr.method.objective(torch.tensor(W)[None], xs, ys, m).item()
    want = sum(np_kl(y[i], softmax(x32(x)[i] @ W)) for i in range(len(x)))  # Geng 2016: T(θ) = Σ_i KL(D_i ‖ p_i)
    assert got == pytest.approx(want, rel=1e-6)


def np_barycenter(cols, reg=1e-3):
    """Row j of Z: the weights on the other columns that reconstruct column j (sum 1), written out directly."""
    C = len(cols)
    Z = np.zeros((C, C))
    for j in range(C):
        o = [k for k in range(C) if k != j]
        A = cols[o] - cols[j]
        G = A @ A.T
        G += (reg * np.trace(G) if np.trace(G) > 0 else reg) * np.eye(C - 1)
        w = np.linalg.solve(G, np.ones(C - 1))
        Z[j, o] = w / w.sum()
    return Z


def test_barycenter_weights_solve_the_constrained_reconstruction():
    cols = np.random.default_rng(0).dirichlet(np.ones(4), 6).T  # 4 label columns of 6 samples
    Z = solvers.barycenter_weights(torch.tensor(cols)[None]).numpy()[0]
    assert np.allclose(Z, np_barycenter(cols)) and np.allclose(Z.sum(1), 1) and np.allclose(np.diag(Z), 0)
    for j in range(4):  # KKT of min ‖Σ_k w_k (c_k − c_j)‖² + R‖w‖² s.t. Σw = 1: (G + R I) w ∝ 1
        o = [k for k in range(4) if k != j]
        A = cols[o] - cols[j]
        G = A @ A.T
        G += 1e-3 * np.trace(G) * np.eye(3)
        g = G @ Z[j, o]
        assert np.allclose(g, g[0])


def test_ldl_ldm_objective_is_kl_plus_ridge_plus_global_and_local_manifold_terms():
    x, y = problem(n=12)
    cfg = dict(l1=0.3, l2=0.7, l3=1.3, clusters=2)
    tr, b = make("ldl-ldm", [(x, y)], cfg)
    xs, ys, m = tr.method.data(b)
    tr.method.prepare(xs, ys, m)
    labels = tr.method.cluster_labels[0].numpy()
    W = np.random.default_rng(2).normal(size=(5, 3)) * 0.5  # 4 features + the intercept
    got = tr.method.objective(torch.tensor(W)[None], xs, ys, m).item()
    xa = np.hstack([x32(x), np.ones((len(x), 1))])
    P = softmax(xa @ W)
    want = sum(np_kl(y[i], P[i]) for i in range(len(x))) + 0.5 * 0.3 * (W ** 2).sum()
    Zg = np_barycenter(y.T)
    want += 0.7 * ((P - P @ Zg.T) ** 2).sum()  # column j of P̂ minus its reconstruction from the others
    for g in range(2):
        rows = labels == g
        Zk = np_barycenter(y[rows].T)
        want += 1.3 * ((P[rows] - P[rows] @ Zk.T) ** 2).sum()
    assert got == pytest.approx(want, rel=1e-6)


def test_adam_ldl_scl_objective_and_test_codes():
    x, y = problem(n=10)
    tr, b = make("adam-ldl-scl", [(x, y)], dict(clusters=3, alpha=0.5, beta=0.2))
    tr.step(b)  # sets the centres and the code regression; one Adam step
    P, meth = tr.P, tr.method
    xs, ys, m = meth.data(b)
    fit, corr, barrier = meth._terms(P, xs, ys, m)
    th, W, c = P["theta"].detach().numpy()[0], P["W"].detach().numpy()[0], P["codes"].detach().numpy()[0]
    cen = meth._centres.numpy()[0]
    p = softmax(x32(x) @ th + c @ W)
    assert fit.item() == pytest.approx(np.mean([np_kl(y[i], p[i]) for i in range(10)]), rel=1e-6)
    d2 = ((p[:, None, :] - cen[None]) ** 2).mean(-1)  # (n, K)
    assert corr.item() == pytest.approx((c * d2).mean(), rel=1e-6)
    assert barrier.item() == pytest.approx((1 / c).mean(), rel=1e-6)
    from sklearn.linear_model import LinearRegression

    xt = np.random.default_rng(5).normal(size=(4, 4))
    codes = LinearRegression().fit(x32(x), c).predict(x32(xt))  # the test codes: least squares from the features
    want = softmax(x32(xt) @ th + codes @ W)
    got = tr.predict(torch.tensor(xt, dtype=torch.float32)[None]).numpy()[0]
    assert np.allclose(got, want, atol=1e-8)


# -- each solver step solves its sub-problem ------------------------------------------------------------------

def test_ldlsf_w_step_is_the_exact_minimiser_of_its_augmented_lagrangian():
    x, y = problem(n=8, d=10)  # fewer samples than features, as on Movie
    cfg = dict(alpha=1e-3, beta=1e-2, gamma=0.05, rho=0.3)
    tr, b = make("ldlsf", [(x, y)], cfg)
    tr.step(b)
    W = tr.P["W"].detach()[0].clone().requires_grad_(True)
    X, D = torch.tensor(x32(x)), torch.tensor(y.astype(np.float32), dtype=f64)
    R = torch.tensor(np.corrcoef(D.numpy(), rowvar=False))
    PR = torch.diag(R.sum(1)) - R
    W1 = W2 = 0.5 * torch.eye(10, 3, dtype=f64)  # the starting point; V = V2 = 0
    rho, gam = 0.3, 0.05
    XW = X @ W
    s = XW.sum(1) - 1  # the constraint XW·1 = 1
    f = (0.5 * ((XW - D) ** 2).sum() + rho / 2 * ((W - W1 - W2) ** 2).sum() + rho / 2 * (s ** 2).sum()
         + gam * torch.trace(XW @ PR @ XW.T))
    (g,) = torch.autograd.grad(f, W)
    assert g.abs().max().item() < 1e-8


def test_ldlsf_proximal_steps_and_simplex_prediction():
    x, y = problem(n=8, d=10)
    tr, b = make("ldlsf", [(x, y)])
    tr.step(b)
    p = tr.predict(torch.tensor(x, dtype=torch.float32)[None])
    assert (p >= 0).all() and torch.allclose(p.sum(-1), torch.ones(1, 8, dtype=f64))


def test_ldl_lclr_s_step_is_the_exact_minimiser_of_its_sub_problem():
    x, y = problem(n=12)
    cfg = dict(clusters=2, delta=0.05, rho=0.5, beta=0.01, gamma=0.01)
    tr, b = make("ldl-lclr", [(x, y)], cfg)
    tr.step(b)
    S = tr.method._st["S"][0].clone().requires_grad_(True)
    X, D = torch.tensor(x32(x)), torch.tensor(y.astype(np.float32), dtype=f64)
    Ph = torch.softmax(X @ tr.P["W"].detach()[0], -1)
    labels = tr.method.cluster_labels[0].numpy()
    Pv = []
    for v in range(2):
        Dv = y.astype(np.float32).astype(np.float64)[labels == v]
        Pv.append(((Dv[:, :, None] - Dv[:, None, :]) ** 2).sum(0))  # ‖D^v_·a − D^v_·b‖²
    sumP = torch.tensor(sum(Pv))
    rho, delta = 0.5, 0.05
    Zs = torch.eye(3, dtype=f64)  # Z, E, V, V2 at their starting values (I, 0, 0, 0)
    R = D - Ph @ S
    f = rho / 2 * (((S - Zs) ** 2).sum() + (R ** 2).sum()) - delta * (S * sumP).sum()
    (g,) = torch.autograd.grad(f, S)
    assert g.abs().max().item() < 1e-9


def test_edl_lrl_diagonal_jacobian_and_the_full_gradient():
    z = torch.tensor([[0.3, -1.0, 2.0]], dtype=f64, requires_grad=True)
    up = torch.tensor([[1.0, 2.0, -0.5]], dtype=f64)
    (g,) = torch.autograd.grad((_DiagSoftmax.apply(z) * up).sum(), z)
    p = torch.softmax(z.detach(), -1)
    assert torch.allclose(g, up * p * (1 - p))  # the reference code's p(1 − p), no off-diagonal terms
    x, y = problem(n=10)
    tr, b = make("edl-lrl", [(x, y)], dict(jacobian="full", clusters=2))
    xs, ys, m = tr.method.data(b)
    mf = m.to(f64)[..., None]
    Z = torch.zeros_like(ys)
    W = torch.randn(1, 4, 3, dtype=f64)
    member = tr.method.onehot(torch.zeros(1, 10, dtype=torch.long), 2)
    f, g = solvers.value_and_grad(lambda w: tr.method._objective1(w, xs, ys, mf, Z, member), W)
    want = 0.5 * ((torch.softmax(xs @ W, -1) - ys) ** 2).sum() + 1e-3 * (W ** 2).sum()
    assert f.item() == pytest.approx(want.item(), rel=1e-9)
    e = torch.zeros_like(W)
    e[0, 1, 2] = 1e-6  # a finite-difference check of the autograd gradient
    fd = (tr.method._objective1(W + e, xs, ys, mf, Z, member) - tr.method._objective1(W - e, xs, ys, mf, Z, member)) / 2e-6
    assert fd.item() == pytest.approx(g[0, 1, 2].item(), rel=1e-5)


# -- the shared solvers --------------------------------------------------------------------------------------

def test_stacked_lbfgs_reaches_scipys_minimum_for_every_model():
    data = [problem(n=15, d=3, C=3, seed=s) for s in range(3)]
    lam = torch.tensor([0.1, 0.5, 1.0], dtype=f64)
    X = torch.stack([torch.tensor(x) for x, _ in data])
    Y = torch.stack([torch.tensor(y) for _, y in data])

    def f(W):  # (M, d, C) → (M,): L2-regularised softmax regression, each model its own data and λ
        logp = torch.log_softmax(X @ W, -1)
        return -(Y * logp).sum((1, 2)) + lam * (W ** 2).sum((1, 2))

    opt = solvers.LBFGS(f, torch.zeros(3, 3, 3, dtype=f64), gtol=1e-10, ftol=0.0)
    W = opt.run(500)
    for i, (x, y) in enumerate(data):
        def fi(w, i=i, x=x, y=y):
            Wt = torch.tensor(w.reshape(3, 3), requires_grad=True)
            v = -(torch.tensor(y) * torch.log_softmax(torch.tensor(x) @ Wt, -1)).sum() + lam[i] * (Wt ** 2).sum()
            v.backward()
            return v.item(), Wt.grad.numpy().ravel()
        ref = minimize(fi, np.zeros(9), jac=True, method="L-BFGS-B", options=dict(gtol=1e-12, ftol=0, maxiter=1000))
        assert np.allclose(W[i].numpy().ravel(), ref.x, atol=1e-6)
    assert bool(opt.done.all())


def test_a_stopped_model_never_moves():
    f = lambda W: ((W - torch.tensor([[1.0], [2.0]], dtype=f64)) ** 2).sum(1)  # noqa: E731
    opt = solvers.LBFGS(f, torch.zeros(2, 1, dtype=f64), gtol=1e-8)
    opt.done[1] = True
    W = opt.run(50)
    assert W[1].item() == 0.0 and W[0].item() == pytest.approx(1.0)


def test_proximal_maps_against_their_definitions():
    rng = np.random.default_rng(0)
    a = torch.tensor(rng.normal(size=(2, 5, 4)))
    tau = torch.tensor([0.3, 1.1], dtype=f64)
    st = solvers.soft_threshold(a, tau)
    assert torch.allclose(st[1], torch.sign(a[1]) * (a[1].abs() - 1.1).clamp_min(0))
    sc = solvers.shrink_columns(a, tau)
    na, ns = a.norm(dim=1), sc.norm(dim=1)
    assert torch.allclose(ns, (na - tau[:, None]).clamp_min(0))
    sv = solvers.svt(a, tau)
    s_a, s_v = torch.linalg.svdvals(a), torch.linalg.svdvals(sv)
    assert torch.allclose(s_v, (s_a - tau[:, None]).clamp_min(0), atol=1e-10)
    v = torch.tensor(rng.normal(size=(6, 4)))
    p = solvers.project_simplex(v)
    assert (p >= 0).all() and torch.allclose(p.sum(-1), torch.ones(6, dtype=f64))
    q = torch.tensor(rng.dirichlet(np.ones(4), (200,)))  # no simplex point is closer
    for i in range(6):
        assert ((v[i] - p[i]) ** 2).sum() <= ((v[i] - q) ** 2).sum(-1).min() + 1e-12


def test_kmeans_is_per_model_and_seeded():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(0, 0.1, (10, 2)), rng.normal(5, 0.1, (10, 2))])
    x = torch.tensor(np.stack([pts, pts[::-1]]))
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 15:] = False
    lab, _ = solvers.kmeans(x, mask, 2, [torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)])
    assert len(set(lab[0, :10].tolist())) == 1 and set(lab[0, :10].tolist()) != set(lab[0, 10:].tolist())
    assert (lab[1, 15:] == -1).all()
    alone, _ = solvers.kmeans(x[1:], mask[1:], 2, [torch.Generator().manual_seed(1)])
    assert torch.equal(alone[0], lab[1])


# -- the registry contract -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CLASSIC)
def test_a_stack_gives_each_model_what_it_gets_alone(name):
    data = [problem(n=11, seed=1), problem(n=8, seed=2)]  # different sizes: padding must not count
    cfg = {"epochs": 4, **({"inner": 20} if name == "ldl-lclr" else {}), **({"clusters": 2} if name in (
        "ldl-lclr", "ldl-ldm", "edl-lrl", "adam-ldl-scl") else {})}
    tr, b = make(name, data, cfg, seeds=[3, 4])
    for _ in range(4):
        tr.step(b)
    xt = torch.tensor(np.random.default_rng(9).normal(size=(2, 5, 4)), dtype=torch.float32)
    both = tr.predict(xt)
    for i, d in enumerate(data):
        one, bb = make(name, [d], cfg, seeds=[3 + i])
        for _ in range(4):
            one.step(bb)
        assert torch.allclose(one.predict(xt[i:i + 1])[0], both[i], atol=1e-8), name


@pytest.mark.parametrize("name", CLASSIC)
def test_classic_learners_declare_their_knobs_and_drop_the_minibatch_ones(name):
    e = REGISTRY[name]
    keys = {p.name for p in e.schema()}
    assert "batch_size" not in keys and "hidden" not in keys and "epochs" in keys
    assert e.cls.family == "classic" and e.paper and re.search(r"(19|20)\d\d", e.paper)
    doc = __import__(e.cls.__module__, fromlist=["x"]).__doc__
    assert re.search(r"Eq\. \d", doc) or "§" in doc, e.cls.__module__


def test_every_classic_learner_runs_movie_under_the_ildl_protocol():
    from ildl.data import load
    from ildl.runner import run_experiment

    settings = {n: {"epochs": 3, **({"inner": 30} if n == "ldl-lclr" else {})} for n in CLASSIC}
    rows = run_experiment(load("Movie"), list(CLASSIC), folds=10, fold_ids=[0], settings=settings)
    assert {r["method"] for r in rows} == set(CLASSIC)
    for r in rows:
        for k in ("chebyshev", "kl", "clark", "canberra", "cosine", "intersection"):
            assert math.isfinite(r[k]), (r["method"], k)


@pytest.mark.parametrize("in_span", [False, True])
def test_ldl_lclr_hand_written_w_gradient_matches_finite_differences(in_span):
    x, y = problem(n=7, d=9)
    tr, b = make("ldl-lclr", [(x, y)], dict(clusters=2, rho=0.4))
    xs, ys, m = tr.method.data(b)
    rng = np.random.default_rng(3)
    st = dict(S=torch.tensor(rng.normal(size=(1, 3, 3))), E=torch.tensor(rng.normal(size=(1, 7, 3)) * 0.1),
              V=torch.tensor(rng.normal(size=(1, 7, 3))))
    span = solvers.RowSpan(xs) if in_span else None
    fg = tr.method.w_value_and_grad(xs, ys, m, st, span)
    W = torch.tensor(rng.normal(size=(1, 7, 3) if in_span else (1, 9, 3)))
    f, g = fg(W)
    for idx in [(0, 0, 0), (0, 2, 1), (0, 6 if in_span else 8, 2)]:
        e = torch.zeros_like(W)
        e[idx] = 1e-6
        fd = (fg(W + e)[0] - fg(W - e)[0]) / 2e-6
        assert fd.item() == pytest.approx(g[idx].item(), rel=1e-5, abs=1e-8)
    if in_span:  # the coordinates are an isometry onto the row span: the same objective as W = span.to_w(U)
        f_w, _ = tr.method.w_value_and_grad(xs, ys, m, st)(span.to_w(W))
        assert f.item() == pytest.approx(f_w.item(), rel=1e-10)
        assert torch.allclose(span.xw(W), xs @ span.to_w(W))
        assert (span.to_w(W) ** 2).sum().item() == pytest.approx((W ** 2).sum().item(), rel=1e-10)


def test_groups_expand_to_the_papers_layout_and_tables_keep_it():
    from ildl import report
    from ildl.methods import expand

    names = expand(["constants", "ildl", "classic", "amema", "ldl-kl"])
    assert names[:3] == ["uniform", "train_mean", "test_mean"] and names.count("amema") == 1
    assert names[3:9] == ["ofr-fl", "ofr-cb", "ofr-db", "rda", "dildl", "amema"]
    assert names[9:15] == list(CLASSIC) and names[-1] == "ldl-kl"
    rows = [dict(method=m, fold=f, chebyshev=0.3 + 0.01 * i + 0.001 * f, kl=0.5 + 0.01 * i)
            for i, m in enumerate(names) for f in range(3)]
    t = report.table(rows, metrics=("chebyshev", "kl"), dataset="Movie")
    assert list(t["group"]) == ["constant"] * 3 + ["classic"] * 6 + ["baseline"] + ["ildl"] * 6
    assert t.loc[t["config"] == "ldl-lclr", "chebyshev_published"].iloc[0] == 0.3346  # spec §3c, Table 1
    assert t.loc[t["config"] == "adam-ldl-scl", "kl_published"].iloc[0] == 19.1715  # Table 2
    md = report.markdown(t)
    titles = [ln for ln in md.splitlines() if ln.startswith("| *")]
    assert titles == ["| *classic LDL learners* | | | |", "| *baselines* | | | |", "| *imbalanced-LDL methods* | | | |"]
    tex = report.latex(t)
    assert tex.count(r"\midrule") == 1 + 3  # after the head, and between the four groups


def test_cli_lists_the_classic_learners_with_papers_and_groups():
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "ildl", "methods", "--task", "ldl"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120).stdout
    for n in CLASSIC:
        line = next(ln for ln in out.splitlines() if ln.startswith(n + " "))
        assert "classic LDL" in line
    assert "Geng. Label Distribution Learning. IEEE TKDE, 2016." in out and "groups for --method" in out


def test_a_study_can_carry_reference_rows_beside_its_constants():
    from ildl import runner

    with pytest.raises(ValueError, match="studies only"):
        runner.resolve(dict(dataset="synthetic", methods=["ldl-kl"], references=["classic"]))
    with pytest.raises(ValueError, match="label-distribution studies"):
        runner.resolve(dict(study="lt", references=["classic"]))
    cfg = runner.resolve(dict(study="amema", dataset="synthetic", references=["classic", "uniform"]))
    assert cfg["references"] == list(CLASSIC)  # the group expanded, the constant (already a row) dropped
    rows = runner.run(dict(study="amema", dataset="synthetic", dataset_kw=dict(n=200), fold_ids=[0],
                           references=["sa-bfgs", "ldlsf"], settings={"*": {"epochs": 2}}))
    t = report.study_table(rows, "amema", "synthetic")
    kinds = dict(zip(t["config"], t["kind"]))
    assert kinds["sa-bfgs"] == kinds["ldlsf"] == "reference" and kinds["uniform"] == "constant"
    assert list(t["config"])[-2:] == ["sa-bfgs", "ldlsf"]  # after the study's configurations and the constants
    sa = next(r for r in rows if r.get("config") == "sa-bfgs")
    assert sa["method"] == "sa-bfgs"
