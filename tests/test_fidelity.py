"""Issue 11: RDA's structure as in its reference code, DB's negative weights, model selection, the test
diagnostic, DILDL's 'neither' row being RDA, AMEMA's declared choices."""
import numpy as np
import pytest
import torch

from ildl import selection as S
from ildl.data import make_synthetic
from ildl.methods import TrainStats, parse
from ildl.protocol import make_protocol
from ildl.trainer import fit_fold, method_config, run_experiment

CPU = torch.device("cpu")


def make(name, overrides=None, d=6, seed=0):
    y_train = np.random.default_rng(0).dirichlet(np.ones(4), 30)
    spec = parse(name)
    return spec.cls(method_config(spec, overrides), d, TrainStats(y_train), CPU, seed)


def batch(n=16, d=6, C=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g), torch.softmax(2 * torch.randn(n, C, generator=g), -1)


@pytest.mark.parametrize("name", ["rda", "dildl"])
def test_gaussian_heads_are_not_on_the_prediction_path(name):
    m = make(name)
    x, y = batch()
    for _ in range(3):
        m.train_step(x, y)
    before = m.predict(x)
    with torch.no_grad():
        for enc in (m.enc_x, m.enc_y):
            for head in (enc.mu, enc.logvar):
                head.weight.add_(torch.randn_like(head.weight))
                head.bias.add_(1.0)
    assert torch.equal(m.predict(x), before)
    # ...while the encoder's linear layer is: prediction = softmax(D(ReLU(W x)))
    with torch.no_grad():
        m.enc_x.lin.weight.mul_(2.0)
    assert not torch.allclose(m.predict(x), before)
    h = x @ (m.enc_x.lin.weight.T) + m.enc_x.lin.bias
    want = torch.softmax(torch.relu(h) @ m.dec.weight.T + m.dec.bias, -1)
    assert torch.allclose(m.predict(x), want, atol=1e-6)


def test_rda_reference_init_and_optimiser_groups():
    m = make("rda")
    for enc in (m.enc_x, m.enc_y):
        assert torch.count_nonzero(enc.lin.bias) == 0 and torch.count_nonzero(enc.mu.bias) == 0
    std = m.enc_y.lin.weight.std().item()  # Kaiming normal: std √(2 / fan_in), fan_in = C = 4
    assert std == pytest.approx((2 / 4) ** 0.5, rel=0.25)
    wd = sorted(g["weight_decay"] for g in m.opt.param_groups)
    assert wd == [1e-4, 1e-2] and all(g["amsgrad"] for g in m.opt.param_groups)


def test_dildl_with_both_switches_off_is_rda():
    x, y = batch()
    rda, dildl = make("rda", seed=3), make("dildl", {"dld": False, "drda": False}, seed=3)
    for _ in range(5):
        a, b = rda.train_step(x, y), dildl.train_step(x, y)
        for k in ("pred", "recover", "target", "sim", "loss"):
            assert a[k] == pytest.approx(b[k], rel=1e-6), k
    assert torch.allclose(rda.predict(x), dildl.predict(x), atol=1e-6)


def test_selection_rules_on_a_scripted_history():
    hist = [dict(epoch=1, val_kl=0.50, val_kl_balanced=0.90),
            dict(epoch=2, val_kl=0.30, val_kl_balanced=0.70),
            dict(epoch=3, val_kl=0.30, val_kl_balanced=0.40),  # a tie on val_kl: the earlier epoch stays
            dict(epoch=4, val_kl=0.35, val_kl_balanced=0.45),
            dict(epoch=5, val_kl=float("nan"), val_kl_balanced=float("nan"))]
    assert S.choose(hist, "val_kl") == 2
    assert S.choose(hist, "val_kl_balanced") == 3
    assert S.choose(hist, "last") == 5
    assert S.choose([], "val_kl") == 0
    assert S.parse("all") == list(S.RULES) and S.parse(None) == [S.DEFAULT]
    with pytest.raises(ValueError, match="unknown model-selection"):
        S.parse("best_test")


def test_balanced_weights_hand_computed():
    y = np.array([[0.8, 0.2], [0.1, 0.9]])
    prior = np.array([0.8, 0.2])
    # w_i = Σ_c y_ic · ½ / p_s(c): [0.8·0.625 + 0.2·2.5, 0.1·0.625 + 0.9·2.5]
    assert S.balanced_weights(y, prior).tolist() == pytest.approx([1.0, 2.3125])
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    rec = S.val_record(y, p, prior)
    kl = [0.8 * np.log(1.6) + 0.2 * np.log(0.4), 0.1 * np.log(0.2) + 0.9 * np.log(1.8)]
    assert rec["val_kl"] == pytest.approx(np.mean(kl))
    assert rec["val_kl_balanced"] == pytest.approx((kl[0] + 2.3125 * kl[1]) / 3.3125)


def test_trainer_reports_each_rule_from_one_training(tiny):
    pr = make_protocol(tiny, "ildl", folds=5)
    ev = []
    out = fit_fold(parse("ldl-kl"), method_config(parse("ldl-kl"), {"epochs": 12}), tiny, pr.splits[0], pr.head,
                   device=CPU, select=list(S.RULES), emit=ev.append)
    hist = [e for e in ev if e["type"] == "epoch"]
    assert [r["select"] for r in out["rows"]] == list(S.RULES)
    for rule in S.RULES:
        assert out["best_epochs"][rule] == S.choose(hist, rule)
    assert out["best_epochs"]["last"] == 12


def test_the_test_diagnostic_cannot_change_the_chosen_epoch(tiny):
    """Scramble the test fold's labels: the diag events change, the chosen epochs and predictions do not."""
    pr = make_protocol(tiny, "ildl", folds=5)
    sp = pr.splits[0]
    cfg = method_config(parse("ldl-kl"), {"epochs": 15})
    runs = []
    for scramble in (False, True):
        ds = make_synthetic(n=200, d=8, n_labels=4, seed=1)
        if scramble:
            ds.Y[sp.test] = ds.Y[sp.test][:, ::-1][np.random.default_rng(0).permutation(len(sp.test))]
        ev = []
        out = fit_fold(parse("ldl-kl"), cfg, ds, sp, pr.head, device=CPU, select=list(S.RULES), diagnostic=True,
                       emit=ev.append)
        runs.append((out, [e for e in ev if e["type"] == "diag"], [e for e in ev if e["type"] == "epoch"]))
    (a, diag_a, ep_a), (b, diag_b, ep_b) = runs
    assert len(diag_a) == 15 and all("never used for selection" in e["note"] for e in diag_a)
    assert [e["test_kl"] for e in diag_a] != [e["test_kl"] for e in diag_b]
    assert a["best_epochs"] == b["best_epochs"]
    assert [e["val_kl"] for e in ep_a] == [e["val_kl"] for e in ep_b]
    for rule in S.RULES:
        assert np.array_equal(a["preds"][rule], b["preds"][rule])


def test_run_experiment_rows_carry_the_rule(tiny):
    rows = run_experiment(tiny, ["uniform", "ldl-kl"], folds=5, fold_ids=[0], settings={"ldl-kl": {"epochs": 3}},
                          select="val_kl,last")
    assert [(r["method"], r["select"]) for r in rows] == [("uniform", "-"), ("ldl-kl", "val_kl"), ("ldl-kl", "last")]


def test_amema_declared_choices():
    x, y = batch(C=4)
    # unweighted (Alg. 1 line 15 literally): the branch weights do not enter the parameter step
    a = make("amema", {"grad_weighting": "unweighted", "lr": 0.1, "clip": 0.0}, seed=1)
    b = make("amema", {"grad_weighting": "unweighted", "lr": 0.1, "clip": 0.0, "weig": False}, seed=1)
    for _ in range(4):
        a.train_step(x, y)
        b.train_step(x, y)
    assert torch.allclose(a.predict(x), b.predict(x), atol=1e-6)
    w = make("amema", {"lr": 0.1, "clip": 0.0}, seed=1)
    for _ in range(4):
        w.train_step(x, y)
    assert not torch.allclose(w.predict(x), a.predict(x), atol=1e-6)
    # the momentum bound is a declared parameter
    m = make("amema", {"mu_max": 0.96, "mu_step": 0.05})
    outs = [m.train_step(x, y) for _ in range(10)]
    assert max(o["mu_ns"] for o in outs) == pytest.approx(0.96) and m.mu_ns == pytest.approx(0.96)
    assert make("amema").cfg["lr"] == 1e-3 and make("amema").cfg["batch_size"] == 64
