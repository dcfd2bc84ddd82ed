"""Per-method behaviour: OFR / DB pieces by hand, latent losses, switches, every method trains and predicts."""
import math

import numpy as np
import pytest
import torch

from helpers import batch, dist, rand, trainer
from ildl import run_experiment
from ildl.decouple import decouple, kl
from ildl.methods import REGISTRY, available, parse
from ildl.methods.ofr import class_balanced_weights, db_prior_shift, db_rebalance, ofr_loss
from ildl.nets import gaussian_kl, similarity_loss

Y = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=torch.float64)
Z = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]], dtype=torch.float64)


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
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    b = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    # cos matrices [[1,0],[0,1]] and [[1,1],[1,1]] → MSE = 2/4
    assert similarity_loss(a, b, torch.ones(1, 2, dtype=torch.bool)).item() == pytest.approx(0.5)
    # a padded third row is left out of the B × B pairs
    ap, bp = torch.cat([a, torch.ones(1, 1, 2)], 1), torch.cat([b, -torch.ones(1, 1, 2)], 1)
    assert similarity_loss(ap, bp, torch.tensor([[True, True, False]])).item() == pytest.approx(0.5)


def test_dildl_half_alpha_renorm_is_half_kl_with_factor_back():
    """α = ½ and the renormalised D̂: ½(L_DDL + (1 − d_k)·L_NDDL) = ½ KL(y ‖ p) per sample (the identity)."""
    from ildl.decouple import binary_kl, kl, log_nondominant

    y, z = Y.float(), Z.float()
    d = decouple(y, "renorm")
    lhs = 0.5 * (binary_kl(d.dk, z, d.k) + (1 - d.dk) * kl(d.nondom, log_nondominant(z, d.k)))
    assert torch.allclose(lhs, 0.5 * kl(y, torch.log_softmax(z, -1)), atol=1e-6)


def test_amema_switches():
    x, y = rand(1, 16, 6), dist(1, 16, 4, seed=1)
    off = trainer("amema", {"weig": False, "mome": False})
    outs = [off.step(batch(x, {"y": y})) for _ in range(20)]
    assert all(o["w_s"].item() == 0.5 and o["w_ns"].item() == 0.5 for o in outs)
    assert all(o["mu_s"].item() == pytest.approx(0.9) and o["mu_ns"].item() == pytest.approx(0.9) for o in outs)
    on = trainer("amema")
    outs = [on.step(batch(x, {"y": y})) for _ in range(20)]
    mu_s, mu_ns = [o["mu_s"].item() for o in outs], [o["mu_ns"].item() for o in outs]
    assert all(a > b for a, b in zip(mu_s, mu_s[1:])) and all(a < b for a, b in zip(mu_ns, mu_ns[1:]))
    assert all(0.2 <= o["w_ns"].item() <= 1 and o["w_s"].item() + o["w_ns"].item() == pytest.approx(1) for o in outs)
    onehot = trainer("amema", {"dominant_target": "onehot"})
    P = onehot.P
    from helpers import lin

    z = lin(P, "s.2", torch.relu(lin(P, "s.0", x[0])))
    ce = -torch.log_softmax(z, -1).gather(-1, decouple(y[0]).k[:, None]).mean()
    assert onehot.step(batch(x, {"y": y}))["loss_s"].item() == pytest.approx(ce.item(), abs=1e-6)


@pytest.mark.parametrize("name", available("ldl"))
def test_every_ldl_method_trains_a_few_steps_and_predicts_distributions(name):
    t = trainer(name)
    x, y = rand(1, 12, 6), dist(1, 12, 4, seed=1)
    eps = [torch.randn(1, 12, 100) for _ in range(6)]
    for _ in range(3):
        terms = t.step(batch(x, {"y": y}, eps=eps))
        assert all(math.isfinite(v.item()) for k, v in terms.items() if k in ("loss", "pred"))
        assert set(t.method.step_terms) <= set(terms)
    p = t.predict(x)
    assert p.shape == (1, 12, 4) and (p >= 0).all() and torch.allclose(p.sum(-1), torch.ones(1, 12, dtype=p.dtype), atol=1e-5)


def test_dildl_switches_log_only_the_terms_each_model_trains_on():
    t = trainer("dildl", [{}, {"dld": False, "drda": False}], M=2)
    x, y = rand(2, 8, 6), dist(2, 8, 4, seed=1)
    terms = t.step(batch(x, {"y": y}))
    assert math.isfinite(terms["ddl"][0]) and math.isnan(terms["ddl"][1])
    assert math.isfinite(terms["align1"][0]) and math.isnan(terms["align1"][1])
    assert math.isnan(terms["recover"][0]) and math.isfinite(terms["recover"][1])


def test_registry_names_fix_their_presets():
    assert parse("group-soft").config()["criterion"] == "soft" and "criterion" not in {
        p.name for p in REGISTRY["group-soft"].schema()}
    with pytest.raises(ValueError, match="fixes criterion"):
        REGISTRY["group-soft"].config({"criterion": "ce"})
    assert REGISTRY["lade"].config(REGISTRY["lade"].config()) == REGISTRY["lade"].config()  # resolves to itself
    with pytest.raises(ValueError, match="belongs to task"):
        parse("lade", "ldl")
    with pytest.raises(ValueError, match="'\\+pc' applies"):
        parse("lade+pc")


def test_pc_suffix_runs_end_to_end(tiny):
    rows = run_experiment(tiny, ["amema", "amema+pc", "ofr-db+pc"], folds=5, fold_ids=[0],
                          settings={"amema": {"epochs": 2}, "ofr-db": {"epochs": 2}})
    assert [r["method"] for r in rows] == ["amema", "amema+pc", "ofr-db+pc"]
    assert rows[0]["kl"] != rows[1]["kl"]


def test_a_key_that_differs_in_a_stack_cannot_be_read_as_shared():
    """Python that branches on self.cfg would give every model model 0's value: the stack config refuses the keys
    whose values differ, naming the fix."""
    t = trainer("ldl-kl", [{"lr": 1e-3}, {"lr": 1e-2}], M=2)
    assert t.method.cfg["hidden"] == 100  # shared keys read as before
    with pytest.raises(ValueError, match="'lr' differs between the models of this stack"):
        t.method.cfg["lr"]
    assert t.method.col("lr").tolist() == pytest.approx([1e-3, 1e-2])
