import copy
import math

import numpy as np
import pytest
import torch

from ildl.decouple import decouple, kl
from ildl.methods import REGISTRY, TrainStats, parse
from ildl.methods.ofr import class_balanced_weights, db_prior_shift, db_rebalance, ofr_loss
from ildl.nets import gaussian_kl, similarity_loss
from ildl.trainer import method_config, run_experiment

CPU = torch.device("cpu")
Y = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=torch.float64)
Z = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]], dtype=torch.float64)


def make(name, overrides=None, d=4, y_train=None, seed=0):
    y_train = np.random.default_rng(0).dirichlet(np.ones(3), 20) if y_train is None else y_train
    spec = parse(name)
    return spec.cls(method_config(spec, overrides), d, TrainStats(y_train), CPU, seed)


def test_ofr_fl_gamma0_is_kl_over_C():
    mass = torch.tensor([5.0, 3.0, 2.0], dtype=torch.float64)
    got = ofr_loss(Z, Y, mass, 10, gamma=0.0)
    want = kl(Y, torch.log_softmax(Z, -1)).mean() / 3
    assert got.item() == pytest.approx(want.item(), abs=1e-12)


def test_ofr_fl_hand_computed():
    p = torch.softmax(Z, -1).numpy()
    y = Y.numpy()
    want = np.mean((1 - p) ** 2 * y * np.log(y / p))
    assert ofr_loss(Z, Y, torch.ones(3, dtype=torch.float64), 10, gamma=2.0).item() == pytest.approx(want)


def test_ofr_cb_and_db_pieces_hand_computed():
    mass = torch.tensor([6.0, 3.0, 1.0], dtype=torch.float64)
    cb = class_balanced_weights(mass, 0.9)
    assert cb.tolist() == pytest.approx([0.1 / (1 - 0.9**6), 0.1 / (1 - 0.9**3), 0.1 / (1 - 0.9)])
    shift = db_prior_shift(mass, 10)
    assert shift.tolist() == pytest.approx([-0.05 * math.log(10 / 6 - 1), -0.05 * math.log(10 / 3 - 1),
                                            -0.05 * math.log(9)])
    # a label holding all the mass: N/n_c − 1 = 0 → guarded, finite
    assert torch.isfinite(db_prior_shift(torch.tensor([10.0, 1e-9]), 10)).all()
    r_den = (0.7 / 6 + 0.2 / 3 + 0.1 / 1)
    want = [1 / (1 + math.exp(-10 * ((1 / n) / r_den - 0.9))) + 0.1 for n in (6, 3, 1)]
    assert db_rebalance(Y, mass)[0].tolist() == pytest.approx(want)
    # the whole DB loss against a direct numpy evaluation
    z = Z.numpy() + shift.numpy()[None]
    y = Y.numpy()
    z = 2 * z * (1 - y) + z * y
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    w = (1 - p) ** 2 * db_rebalance(Y, mass).numpy()
    logits_only = np.mean(w * y * np.log(y / p))
    assert ofr_loss(Z, Y, mass, 10, gamma=2.0, db=True, neg_weight=False).item() == pytest.approx(logits_only)
    # the reference code also scales the weight's negative part back: w ← w/2·(1 − y) + w·y
    want = np.mean(w * (y + (1 - y) / 2) * y * np.log(y / p))
    assert ofr_loss(Z, Y, mass, 10, gamma=2.0, db=True).item() == pytest.approx(want)
    assert want < logits_only


def test_db_negative_weights_hand_computed():
    """One sample, two labels, γ = 0, equal masses: every factor written out by hand."""
    y = torch.tensor([[0.75, 0.25]], dtype=torch.float64)
    z = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    mass = torch.tensor([2.0, 2.0], dtype=torch.float64)
    # prior shift −0.05·log(4/2 − 1) = 0; negative-tolerant logits 2·0·(1 − y) + 0·y = 0 → p = [½, ½]
    # rebalance r_c = (1/2)/(0.75/2 + 0.25/2) = 1 → w = σ(10·0.1) + 0.1 for both labels
    rb = 1 / (1 + math.exp(-1.0)) + 0.1
    # negative part scaled back: w_c ← w/2·(1 − y_c) + w·y_c
    w = [rb * (0.25 / 2 + 0.75), rb * (0.75 / 2 + 0.25)]
    ell = [0.75 * math.log(0.75 / 0.5), 0.25 * math.log(0.25 / 0.5)]
    want = (w[0] * ell[0] + w[1] * ell[1]) / 2
    assert ofr_loss(z, y, mass, 4, gamma=0.0, db=True).item() == pytest.approx(want, rel=1e-9)
    assert ofr_loss(z, y, mass, 4, gamma=0.0, db=True, neg_weight=False).item() == pytest.approx(
        rb * (ell[0] + ell[1]) / 2, rel=1e-9)


def test_gaussian_kl_and_similarity_hand_computed():
    mu1, lv1 = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, math.log(4.0)]])
    mu2, lv2 = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 0.0]])
    # dim0: ½(0 − 0 + (1 + 1)/1 − 1) = 0.5; dim1: ½(0 − log 4 + 4 − 1) = 1.5 − log 2
    assert gaussian_kl(mu1, lv1, mu2, lv2).item() == pytest.approx(0.5 + 1.5 - math.log(2), abs=1e-6)
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # cos matrices [[1,0],[0,1]] and [[1,1],[1,1]] → MSE = 2/4
    assert similarity_loss(a, b).item() == pytest.approx(0.5)


def test_dildl_half_alpha_renorm_is_half_kl_with_factor_back():
    m = make("dildl", {"alpha": 0.5, "variant": "renorm"})
    t = m.decoupled_loss(Z.float(), Y.float())
    d = decouple(Y.float(), "renorm")
    # per sample: ½(L_DDL + (1 − d_k) L_NDDL) = ½ KL(y ‖ p)
    from ildl.decouple import binary_kl, log_nondominant
    ddl = binary_kl(d.dk, Z.float(), d.k)
    nddl = kl(d.nondom, log_nondominant(Z.float(), d.k))
    assert torch.allclose(0.5 * (ddl + (1 - d.dk) * nddl), 0.5 * kl(Y.float(), torch.log_softmax(Z.float(), -1)), atol=1e-6)
    assert t["pred"].item() == pytest.approx(0.5 * (ddl.mean() + nddl.mean()).item(), abs=1e-6)


def test_amema_one_step_is_heavy_ball_and_mu_follows_algorithm_1():
    m = make("amema", {"clip": 0.0, "lr": 0.5})  # a large step, so that the update is visible
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    y = torch.softmax(torch.randn(5, 3, generator=torch.Generator().manual_seed(1)), -1)
    before = {k: copy.deepcopy(net.state_dict()) for k, net in m.modules().items()}
    # expected by hand
    loss_s, loss_ns = m.branch_losses(x, y)
    e_s, e_ns = 0.1 * loss_s.item(), 0.1 * loss_ns.item()  # E⁽⁰⁾ = 0, m = 0.9
    r = e_ns / (e_s + 1e-8)
    sig = 1 / (1 + math.exp(-5 * (r - 1)))
    w_ns = 0.2 + 0.8 * sig
    grads_s = torch.autograd.grad((1 - w_ns) * loss_s, list(m.net_s.parameters()))
    out = m.train_step(x, y)
    assert out["r"] == pytest.approx(r, rel=1e-5) and out["w_ns"] == pytest.approx(w_ns, rel=1e-5)
    assert out["w_s"] + out["w_ns"] == pytest.approx(1.0)
    # first heavy-ball step: v = g, θ ← θ − η g
    for (name, p0), g in zip(before["net_s"].items(), grads_s):
        assert torch.allclose(m.net_s.state_dict()[name], p0 - 0.5 * g, atol=1e-6)
    assert m.mu_ns == pytest.approx(0.95 + 1e-3 * sig) and m.mu_s == pytest.approx(0.75 - 1e-3 * sig)
    # second step uses v ← μ v + g with the *updated* μ
    v_prev = [m.opt_s.state[p]["momentum_buffer"].clone() for p in m.net_s.parameters()]
    p_prev = [p.detach().clone() for p in m.net_s.parameters()]
    mu_s = m.mu_s
    loss_s, loss_ns = m.branch_losses(x, y)
    ema_s = 0.9 * m.ema_s + 0.1 * loss_s.item()
    ema_ns = 0.9 * m.ema_ns + 0.1 * loss_ns.item()
    w_s2 = 1 - (0.2 + 0.8 / (1 + math.exp(-5 * (ema_ns / (ema_s + 1e-8) - 1))))
    g2 = torch.autograd.grad(w_s2 * loss_s, list(m.net_s.parameters()))
    m.train_step(x, y)
    for p, p0, v0, g in zip(m.net_s.parameters(), p_prev, v_prev, g2):
        assert torch.allclose(p.detach(), p0 - 0.5 * (mu_s * v0 + g), atol=1e-5)


def test_amema_switches():
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    y = torch.softmax(2 * torch.randn(16, 3, generator=torch.Generator().manual_seed(1)), -1)
    off = make("amema", {"weig": False, "mome": False})
    outs = [off.train_step(x, y) for _ in range(20)]
    assert all(o["w_s"] == 0.5 and o["w_ns"] == 0.5 for o in outs)
    assert all(o["mu_s"] == 0.9 and o["mu_ns"] == 0.9 for o in outs)
    on = make("amema")
    outs = [on.train_step(x, y) for _ in range(20)]
    mu_s, mu_ns = [o["mu_s"] for o in outs], [o["mu_ns"] for o in outs]
    assert all(a > b for a, b in zip(mu_s, mu_s[1:])) and all(a < b for a, b in zip(mu_ns, mu_ns[1:]))
    assert all(0.2 <= o["w_ns"] <= 1 and o["w_s"] + o["w_ns"] == pytest.approx(1) for o in outs)
    onehot = make("amema", {"dominant_target": "onehot"})
    ls, _ = onehot.branch_losses(x, y)
    d = decouple(y)
    ce = -torch.log_softmax(onehot.net_s(x), -1).gather(-1, d.k[:, None]).mean()
    assert ls.item() == pytest.approx(ce.item(), abs=1e-6)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_method_trains_a_few_steps_and_predicts_distributions(name):
    m = make(name, {"epochs": 2})
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    y = torch.softmax(2 * torch.randn(12, 3, generator=torch.Generator().manual_seed(1)), -1)
    for _ in range(3):
        terms = m.train_step(x, y)
        assert all(math.isfinite(v) for v in terms.values())
        assert set(m.step_terms) <= set(terms)
    p = m.predict(x)
    assert p.shape == (12, 3) and (p >= 0).all() and torch.allclose(p.sum(-1), torch.ones(12), atol=1e-5)


def test_dildl_switches_change_the_loss_terms():
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    y = torch.softmax(2 * torch.randn(8, 3, generator=torch.Generator().manual_seed(1)), -1)
    assert {"ddl", "nddl", "align1", "align4"} <= set(make("dildl").train_step(x, y))
    t = make("dildl", {"dld": False, "drda": False}).train_step(x, y)
    assert {"recover", "target", "sim"} <= set(t) and "ddl" not in t and "align1" not in t


def test_pc_suffix_runs_end_to_end(tiny):
    rows = run_experiment(tiny, ["amema", "amema+pc", "ofr-db+pc"], folds=5, fold_ids=[0],
                          settings={"amema": {"epochs": 2}, "ofr-db": {"epochs": 2}})
    assert [r["method"] for r in rows] == ["amema", "amema+pc", "ofr-db+pc"]
    assert rows[0]["kl"] != rows[1]["kl"]
