"""Every loss term, weight and sign of every method, against an independent computation from the same
parameters (plain torch on model 0's weights, or hand arithmetic). Weights are set to distinct values so that
dropping a term, swapping two weights or flipping a sign changes the total and fails a test."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import batch, dist, lin, rand, trainer
from ildl.decouple import decouple
from ildl.methods.groupdir import group_contrastive, group_contrastive_direct
from ildl.methods.longtail import lade_regulariser
from ildl.methods.ofr import ofr_loss

B, D, C = 8, 6, 4


def kl_rows(y, logp):
    return torch.where(y > 0, y * (torch.log(y.clamp_min(1e-30)) - logp), torch.zeros_like(y)).sum(-1)


def gauss_kl(m1, l1, m2, l2):
    return (0.5 * (l2 - l1 + (l1.exp() + (m1 - m2) ** 2) / l2.exp() - 1)).sum(-1)


def sim(a, b):
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    return ((an @ an.T - bn @ bn.T) ** 2).mean()


def ldl_data(seed=0):
    return rand(1, B, D, seed=seed), dist(1, B, C, seed=seed + 1)


# ----------------------------------------------------------------------------------------------- ILDL
def test_ldl_kl_is_mean_kl():
    t = trainer("ldl-kl")
    x, y = ldl_data()
    z = lin(t.P, "net.2", torch.relu(lin(t.P, "net.0", x[0])))
    want = kl_rows(y[0], torch.log_softmax(z, -1)).mean()
    assert t.step(batch(x, {"y": y}))["loss"].item() == pytest.approx(want.item(), rel=1e-5)


@pytest.mark.parametrize("name,kw", [("ofr-fl", {}), ("ofr-cb", dict(cb_beta=0.7)), ("ofr-db", dict(db=True))])
def test_ofr_methods_minimise_their_reshaped_kl(name, kw):
    over = {"gamma": 1.5, **({"beta": 0.7} if name == "ofr-cb" else {})}
    t = trainer(name, over)
    x, y = ldl_data()
    z = lin(t.P, "net.2", torch.relu(lin(t.P, "net.0", x[0])))
    st = t.method.stats[0]
    want = ofr_loss(z, y[0], torch.as_tensor(st["label_mass"], dtype=torch.float32), st["n"], gamma=1.5, **kw)
    assert t.step(batch(x, {"y": y}))["loss"].item() == pytest.approx(want.item(), rel=1e-5)


def rda_terms(P, x, y, ex, ey):
    """RDA's four terms by hand from model 0's weights and fixed noise ex, ey (B, h)."""
    h = lin(P, "enc_x.lin", x)
    mu_x, lv_x = lin(P, "enc_x.mu", h), lin(P, "enc_x.logvar", h)
    hy = lin(P, "enc_y.lin", y)
    mu_y, lv_y = lin(P, "enc_y.mu", hy), lin(P, "enc_y.logvar", hy)
    r_x, r_y = mu_x + torch.exp(0.5 * lv_x) * ex, mu_y + torch.exp(0.5 * lv_y) * ey
    z = lin(P, "dec", torch.relu(h))
    return dict(z=z, mu_x=mu_x, lv_x=lv_x, r_x=r_x, r_y=r_y, mu_y=mu_y, lv_y=lv_y,
                recover=-(y * torch.log_softmax(lin(P, "dec", r_y), -1)).sum(-1).mean(),
                target=gauss_kl(mu_x, lv_x, mu_y, lv_y).mean(), sim=sim(r_x, r_y))


def test_rda_total_is_pred_plus_weighted_alignment_terms():
    w = dict(w_recover=0.3, w_target=0.2, w_sim=0.7, gamma=1.5)
    t = trainer("rda", w)
    x, y = ldl_data()
    ex, ey = torch.randn(1, B, 100), torch.randn(1, B, 100)
    ref = rda_terms(t.P, x[0], y[0], ex[0], ey[0])
    st = t.method.stats[0]
    pred = ofr_loss(ref["z"], y[0], torch.as_tensor(st["label_mass"], dtype=torch.float32), st["n"], gamma=1.5, db=True)
    got = t.step(batch(x, {"y": y}, eps=[ex, ey]))
    for k, v in dict(pred=pred, recover=ref["recover"], target=ref["target"], sim=ref["sim"]).items():
        assert got[k].item() == pytest.approx(v.item(), rel=1e-4), k
    total = pred + 0.3 * ref["recover"] + 0.2 * ref["target"] + 0.7 * ref["sim"]
    assert got["loss"].item() == pytest.approx(total.item(), rel=1e-5)


def test_rda_target_term_detaches_the_label_side():
    """L_target moves the features towards the labels, not the labels towards the features."""
    t = trainer("rda", dict(w_recover=0.0, w_sim=0.0, gamma=0.0, self_normalise=False, clip=0.0))
    x, y = ldl_data()
    P = t.P
    before = {k: P[k].detach().clone() for k in ("enc_y.mu.weight", "enc_y.lin.weight")}
    t.method.cfgs[0]["w_target"] = 1.0
    t.step(batch(x, {"y": y}, eps=[torch.randn(1, B, 100), torch.randn(1, B, 100)]))
    # the label encoder gets no gradient from L_target (nor from the zero-weighted terms): AdamW's decay only
    wd = 1 - 1e-3 * 1e-4
    assert torch.allclose(P["enc_y.mu.weight"].detach(), before["enc_y.mu.weight"] * wd, atol=1e-7)


def test_dildl_total_every_weight_distinct():
    a, lam, beta, gamma = 0.3, 0.2, 0.15, 0.05
    t = trainer("dildl", dict(alpha=a, lam=lam, beta=beta, gamma=gamma, variant="renorm"))
    x, y = ldl_data()
    ex, ey = torch.randn(1, B, 100), torch.randn(1, B, 100)
    P = t.P
    ref = rda_terms(P, x[0], y[0], ex[0], ey[0])
    d = decouple(y[0], "renorm")
    z = ref["z"]
    p = torch.softmax(z, -1)
    pk = p.gather(-1, d.k[:, None]).squeeze(-1)
    ddl = (d.dk * torch.log(d.dk / pk) + (1 - d.dk) * torch.log((1 - d.dk) / (1 - pk))).mean()
    p_hat = p.masked_fill(F.one_hot(d.k, C).bool(), 0)
    p_hat = p_hat / p_hat.sum(-1, keepdim=True)
    nddl = kl_rows(d.nondom, torch.log(p_hat.clamp_min(1e-30))).mean()
    hd, hn = lin(P, "enc_dom.lin", d.onehot), lin(P, "enc_nd.lin", d.nondom)
    a1 = gauss_kl(ref["mu_x"], ref["lv_x"], lin(P, "enc_dom.mu", hd), lin(P, "enc_dom.logvar", hd)).mean()
    a2 = gauss_kl(ref["mu_x"], ref["lv_x"], lin(P, "enc_nd.mu", hn), lin(P, "enc_nd.logvar", hn)).mean()
    a3 = sim(ref["r_x"], ref["r_y"])
    a4 = kl_rows(y[0], torch.log_softmax(lin(P, "dec", ref["r_y"]), -1)).mean()
    got = t.step(batch(x, {"y": y}, eps=[ex, ey]))
    for k, v in dict(ddl=ddl, nddl=nddl, align1=a1, align2=a2, align3=a3, align4=a4).items():
        assert got[k].item() == pytest.approx(v.item(), rel=1e-4), k
    want = a * ddl + (1 - a) * nddl + lam * (a * a1 + (1 - a) * a2) + beta * a3 + gamma * a4
    assert got["loss"].item() == pytest.approx(want.item(), rel=1e-5)
    assert abs(a1.item() - a2.item()) > 1e-3  # so that swapping α and 1 − α in the alignment would show


def test_amema_terms_weights_and_prediction_by_hand():
    t = trainer("amema", dict(b=0.3, sharpness=4.0, ema=0.8))
    x, y = ldl_data()
    P = t.P

    def branch(name, v):
        return lin(P, f"{name}.2", torch.relu(lin(P, f"{name}.0", v)))

    d = decouple(y[0], "renorm")
    zs, zns = branch("s", x[0]), branch("ns", x[0])
    ps = torch.softmax(zs, -1)
    pk = ps.gather(-1, d.k[:, None]).squeeze(-1)
    L_s = (d.dk * torch.log(d.dk / pk) + (1 - d.dk) * torch.log((1 - d.dk) / (1 - pk))).mean()
    pn = torch.softmax(zns, -1).masked_fill(F.one_hot(d.k, C).bool(), 0)
    pn = pn / pn.sum(-1, keepdim=True)
    L_ns = kl_rows(d.nondom, torch.log(pn.clamp_min(1e-30))).mean()
    e_s, e_ns = 0.2 * L_s.item(), 0.2 * L_ns.item()  # E⁽⁰⁾ = 0, m = 0.8
    r = e_ns / (e_s + 1e-8)
    w_ns = 0.3 + 0.7 / (1 + math.exp(-4 * (r - 1)))
    got = t.step(batch(x, {"y": y}))
    assert got["loss_s"].item() == pytest.approx(L_s.item(), rel=1e-5)
    assert got["loss_ns"].item() == pytest.approx(L_ns.item(), rel=1e-5)
    assert got["r"].item() == pytest.approx(r, rel=1e-5) and got["w_ns"].item() == pytest.approx(w_ns, rel=1e-5)
    assert got["w_s"].item() == pytest.approx(1 - w_ns, rel=1e-5)
    assert got["loss"].item() == pytest.approx((1 - w_ns) * L_s.item() + w_ns * L_ns.item(), rel=1e-5)
    # prediction: k̂ = argmax p̄, q = p̄_k̂ at k̂, (1 − q)·p̂_ns elsewhere
    xt = rand(1, 5, D, seed=9)
    p_bar = torch.softmax(branch("s", xt[0]), -1)
    p_ns = torch.softmax(branch("ns", xt[0]), -1)
    want = torch.zeros(5, C)
    for i in range(5):
        k = int(p_bar[i].argmax())
        q = p_bar[i, k]
        rest = p_ns[i].clone()
        rest[k] = 0
        want[i] = (1 - q) * rest / rest.sum()
        want[i, k] = q
    assert torch.allclose(t.predict(xt)[0], want, atol=1e-6)


def test_amema_heavy_ball_step_and_momenta_follow_algorithm_1():
    t = trainer("amema", dict(clip=0.0, lr=0.5))
    x, y = ldl_data()
    P = t.P
    w0 = P["s.0.weight"].detach().clone()
    (g,) = torch.autograd.grad(t.method.loss(P, batch(x, {"y": y}), t.state).objective.sum(), [P["s.0.weight"]])
    got = t.step(batch(x, {"y": y}))
    assert torch.allclose(P["s.0.weight"].detach(), w0 - 0.5 * g, atol=1e-6)  # v = g on the first step
    delta = 1 / (1 + math.exp(-5 * (got["r"].item() - 1)))
    assert got["mu_s"].item() == pytest.approx(0.75) and got["mu_ns"].item() == pytest.approx(0.95)  # the μ used
    assert t.state["mu_s"].item() == pytest.approx(0.75 - 1e-3 * delta)
    assert t.state["mu_ns"].item() == pytest.approx(0.95 + 1e-3 * delta)
    # second step: v ← μ v + g with the updated μ
    v0 = t.groups[0].opt.bufs[t.groups[0].names.index("s.0.weight")].clone()
    w1, mu = P["s.0.weight"].detach().clone(), t.state["mu_s"].item()
    (g2,) = torch.autograd.grad(t.method.loss(P, batch(x, {"y": y}), t.state).objective.sum(),
                                [P["s.0.weight"]])
    t.step(batch(x, {"y": y}))
    assert torch.allclose(P["s.0.weight"].detach(), w1 - 0.5 * (mu * v0 + g2), atol=1e-5)


# --------------------------------------------------------------------------------------------- Group-DIR
def dir_batch(G=5, seed=0):
    x = rand(1, B, D, seed=seed)
    g = torch.tensor([[0, 1, 1, 2, 4, 0, 3, 4]])
    y = torch.randn(1, B, generator=torch.Generator().manual_seed(seed + 1))
    return x, g, y


@pytest.mark.parametrize("criterion", ["ce", "la", "soft"])
def test_group_dir_total_and_each_criterion_by_hand(criterion):
    lam1, lam2, tau, beta, temp = 0.4, 1.7, 0.8, 1.3, 2.5
    t = trainer(f"group-{criterion}", dict(lambda1=lam1, lambda2=lam2, tau=tau, beta=beta, temperature=temp))
    x, g, y = dir_batch()
    P = t.P
    z = torch.relu(lin(P, "encoder.2", torch.relu(lin(P, "encoder.0", x[0]))))
    logits, experts = lin(P, "classifier", z), lin(P, "experts", z)
    G = 5
    prior = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05])
    if criterion == "soft":  # q_j = softmax(|G| − β|j − g|), not one-hot
        j = torch.arange(G, dtype=torch.float32)
        target = torch.softmax(G - beta * (j[None] - g[0][:, None].float()).abs(), -1)
        assert not torch.allclose(target, F.one_hot(g[0], G).float())
        cls = -(target * torch.log_softmax(logits, -1)).sum(-1).mean()
    elif criterion == "la":  # CE on logits + τ log π: the prior term is there
        cls = F.cross_entropy(logits + tau * torch.log(prior), g[0])
        assert abs(cls.item() - F.cross_entropy(logits, g[0]).item()) > 1e-3
    else:
        cls = F.cross_entropy(logits, g[0])
    mse = ((experts.gather(-1, g[0][:, None]).squeeze(-1) - y[0]) ** 2).mean()  # the true group's expert
    grc = group_contrastive(z[None], g, torch.tensor([temp]), torch.ones(1, B, dtype=torch.bool))[0]
    got = t.step(batch(x, {"y": y, "g": g}))
    assert got["cls"].item() == pytest.approx(cls.item(), rel=1e-5)
    assert got["mse"].item() == pytest.approx(mse.item(), rel=1e-5)
    assert got["loss"].item() == pytest.approx((grc + lam1 * mse + lam2 * cls).item(), rel=1e-5)


def test_group_contrastive_hand_computed():
    z = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]])
    g = torch.tensor([[0, 1, 3]])
    t = 2.0
    zn = z[0] / z[0].norm(dim=1, keepdim=True)
    s = torch.exp(zn @ zn.T / t).numpy()
    gn = g[0].numpy()
    terms = []
    for i in range(3):
        for j in range(3):
            if i != j:
                den = sum(s[i, k] for k in range(3) if k != i and abs(gn[i] - gn[k]) >= abs(gn[i] - gn[j]))
                terms.append(-math.log(s[i, j] / den))
    full = torch.ones(1, 3, dtype=torch.bool)
    assert group_contrastive(z, g, torch.tensor([t]), full).item() == pytest.approx(np.mean(terms), rel=1e-5)
    # a padded row changes nothing; the farthest pair alone has only itself below: its term is 0
    zp = torch.cat([z, torch.zeros(1, 1, 2)], 1)
    gp = torch.cat([g, torch.zeros(1, 1, dtype=torch.long)], 1)
    mask = torch.tensor([[True, True, True, False]])
    assert group_contrastive(zp, gp, torch.tensor([t]), mask).item() == pytest.approx(np.mean(terms), rel=1e-5)
    assert group_contrastive(z[:, [0, 2]], g[:, [0, 2]], torch.tensor([t]), full[:, :2]).item() == \
        pytest.approx(0.0, abs=1e-6)


def test_lds_weights_are_applied():
    t = trainer("lds")
    x, _, y = dir_batch()
    w = torch.tensor([[0.2, 3.0, 1.0, 0.5, 2.0, 0.1, 1.0, 0.2]])
    P = t.P
    y_hat = lin(P, "head", torch.relu(lin(P, "encoder.2", torch.relu(lin(P, "encoder.0", x[0]))))).squeeze(-1)
    got = t.step(batch(x, {"y": y, "g": torch.zeros(1, B, dtype=torch.long), "w": w}))
    assert got["loss"].item() == pytest.approx((w[0] * (y_hat - y[0]) ** 2).mean().item(), rel=1e-5)
    assert got["loss"].item() != pytest.approx(((y_hat - y[0]) ** 2).mean().item(), rel=1e-3)
    t1 = trainer("l1")
    y_hat = lin(t1.P, "head", torch.relu(lin(t1.P, "encoder.2", torch.relu(lin(t1.P, "encoder.0", x[0]))))).squeeze(-1)
    got = t1.step(batch(x, {"y": y, "g": torch.zeros(1, B, dtype=torch.long), "w": w}))
    assert got["loss"].item() == pytest.approx((y_hat - y[0]).abs().mean().item(), rel=1e-5)  # l1 (no LDS) ignores w


# ------------------------------------------------------------------------------------------- label shift
@pytest.mark.parametrize("name,a,lade", [("ce", 0.0, False), ("pc", 0.0, False), ("la", 0.7, False),
                                         ("balanced-softmax", 1.0, False), ("lade", 1.0, True)])
def test_long_tail_losses_by_hand(name, a, lade):
    t = trainer(name, dict(tau=0.7, alpha=0.3, lam=0.2))
    x = rand(1, B, D)
    y = torch.tensor([[0, 1, 0, 2, 0, 1, 3, 0]])
    prior = torch.tensor([0.5, 0.3, 0.15, 0.05])
    f = lin(t.P, "net.2", torch.relu(lin(t.P, "net.0", x[0])))
    ce = F.cross_entropy(f + a * torch.log(prior), y[0])
    got = t.step(batch(x, {"y": y}))
    assert got["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    reg = lade_regulariser(f[None], y, prior[None], torch.tensor([0.2]), torch.ones(1, B, dtype=torch.bool),
                           torch.tensor([True]))[0]
    want = ce + (0.3 * reg if lade else 0.0)
    assert got["loss"].item() == pytest.approx(want.item(), rel=1e-5)
    assert math.isnan(got["lade"].item()) != lade


def test_lade_regulariser_hand_computed_with_and_without_masking():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.5, 1.5, -1.0], [1.0, 1.0, 0.0], [0.0, -0.5, 2.0]])
    y = torch.tensor([0, 1, 0, 1])  # class 2 absent from the batch
    prior = torch.tensor([0.6, 0.3, 0.1])
    lam, N, Cc = 0.1, 4, 3

    def est(c):
        first = np.mean([logits[i, c].item() for i in range(N) if y[i] == c]) if (y == c).any() else 0.0
        second = math.log(sum(math.exp(logits[i, c].item() - math.log(prior[c].item()) - math.log(Cc))
                              for i in range(N))) - math.log(N)
        return first - second - lam * second**2

    masked = -sum(prior[c].item() * est(c) for c in (0, 1))
    kept = masked - prior[2].item() * est(2)
    one = torch.ones(1, N, dtype=torch.bool)
    args = (logits[None], y[None], prior[None], torch.tensor([lam]), one)
    assert lade_regulariser(*args, torch.tensor([True])).item() == pytest.approx(masked, rel=1e-5)
    assert lade_regulariser(*args, torch.tensor([False])).item() == pytest.approx(kept, rel=1e-5)


# ------------------------------------------------------------------------------------------ study marks
def test_study_table_marks_on_a_constructed_example():
    from ildl.report import study_markdown as markdown_table
    from ildl.report import study_table as table

    rows = []
    for f in range(5):
        rows.append(dict(study="amema", config="weig+mome", method="amema", fold=f, chebyshev=0.20 + 0.001 * f))
        rows.append(dict(study="amema", config="none", method="amema", fold=f, chebyshev=0.30 + 0.002 * f))  # worse
        rows.append(dict(study="amema", config="weig", method="amema", fold=f, chebyshev=0.10 + 0.003 * f))  # better
        rows.append(dict(study="amema", config="mome", method="amema", fold=f, chebyshev=0.20 + 0.001 * f
                         + (0.0005 if f % 2 else -0.0005)))  # no difference
    t = table(rows, "amema", metrics=("chebyshev",)).set_index("config")
    assert t.loc["none", "chebyshev"].endswith("•")  # the full method significantly better (lower)
    assert t.loc["weig", "chebyshev"].endswith("◦")  # the full method significantly worse
    assert not t.loc["mome", "chebyshev"].endswith(("•", "◦"))
    assert not t.loc["weig+mome", "chebyshev"].endswith(("•", "◦"))
    assert bool(t.loc["weig", "best_chebyshev"]) and "**" in markdown_table(t.reset_index(), ["chebyshev"])
    # for a metric where higher is better the marks turn around
    up = [dict(r, cosine=r["chebyshev"]) for r in rows]  # the same numbers, now higher is better
    tu = table(up, "amema", metrics=("cosine",)).set_index("config")
    assert tu.loc["none", "cosine"].endswith("◦") and tu.loc["weig", "cosine"].endswith("•")


def test_group_contrastive_equals_its_direct_form_with_ties_padding_and_gradients():
    """The sorted suffix form (O(B²) memory) against the definition: many ties in group distance, padded rows,
    three models with their own temperatures; values and gradients."""
    gen = torch.Generator().manual_seed(0)
    M, B, h = 3, 24, 5
    z = torch.randn(M, B, h, generator=gen, dtype=torch.float64, requires_grad=True)
    g = torch.randint(0, 4, (M, B), generator=gen)  # 4 groups: distances tie a lot
    mask = torch.ones(M, B, dtype=torch.bool)
    mask[1, 17:] = False
    mask[2, 3:] = False
    t = torch.tensor([0.5, 2.5, 1.0], dtype=torch.float64)
    got, want = group_contrastive(z, g, t, mask), group_contrastive_direct(z, g, t, mask)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)
    (gz,) = torch.autograd.grad(got.sum(), z)
    (wz,) = torch.autograd.grad(want.sum(), z)
    assert torch.allclose(gz, wz, rtol=1e-8, atol=1e-12) and gz[1, 17:].abs().max() == 0
