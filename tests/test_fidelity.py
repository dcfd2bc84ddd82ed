"""Issue 11: RDA's structure as in its reference code, DB's negative weights, model selection, the test
diagnostic, DILDL's 'neither' row being RDA, AMEMA's declared choices."""
import numpy as np
import pytest
import torch

from helpers import batch, dist, lin, rand, trainer
from ildl import run_experiment
from ildl import selection as S
from ildl.data import make_synthetic


@pytest.mark.parametrize("name", ["rda", "dildl"])
def test_gaussian_heads_are_not_on_the_prediction_path(name):
    t = trainer(name)
    x, y = rand(1, 16, 6), dist(1, 16, 4, seed=1)
    for _ in range(3):
        t.step(batch(x, {"y": y}, eps=[torch.randn(1, 16, 100) for _ in range(2)]))
    before = t.predict(x)
    P = t.P
    with torch.no_grad():
        for enc in ("enc_x", "enc_y"):
            for head in ("mu", "logvar"):
                P[f"{enc}.{head}.weight"].add_(torch.randn_like(P[f"{enc}.{head}.weight"]))
                P[f"{enc}.{head}.bias"].add_(1.0)
    assert torch.equal(t.predict(x), before)
    # ...while the encoder's linear layer is: prediction = softmax(D(ReLU(W x)))
    with torch.no_grad():
        P["enc_x.lin.weight"].mul_(2.0)
    assert not torch.allclose(t.predict(x), before)
    want = torch.softmax(lin(P, "dec", torch.relu(lin(P, "enc_x.lin", x[0]))), -1)
    assert torch.allclose(t.predict(x)[0], want, atol=1e-6)


def test_rda_reference_init_and_optimiser_groups():
    t = trainer("rda")
    P = t.P
    for enc in ("enc_x", "enc_y"):
        assert torch.count_nonzero(P[f"{enc}.lin.bias"]) == 0 and torch.count_nonzero(P[f"{enc}.mu.bias"]) == 0
    std = P["enc_y.lin.weight"].std().item()  # Kaiming normal: std √(2 / fan_in), fan_in = C = 4
    assert std == pytest.approx((2 / 4) ** 0.5, rel=0.25)
    (grp,) = t.groups
    wd = {n: float(w[0]) for n, w in zip(grp.names, grp.opt.weight_decay)}
    assert all(wd[n] == pytest.approx(1e-2) for n in wd if n.endswith("bias"))
    assert all(wd[n] == pytest.approx(1e-4) for n in wd if n.endswith("weight"))
    assert grp.opt.amsgrad and grp.clip.rule == "adaptive" and float(grp.clip.factor[0]) == 5.0


def test_dildl_with_both_switches_off_is_rda():
    x, y = rand(1, 16, 6), dist(1, 16, 4, seed=1)
    rda, dildl = trainer("rda", seeds=[3]), trainer("dildl", {"dld": False, "drda": False}, seeds=[3])
    for s in range(5):
        eps = [torch.randn(1, 16, 100, generator=torch.Generator().manual_seed(10 * s + i)) for i in range(2)]
        a, b = rda.step(batch(x, {"y": y}, eps=list(eps))), dildl.step(batch(x, {"y": y}, eps=list(eps)))
        for k in ("pred", "recover", "target", "sim", "loss"):
            assert a[k].item() == pytest.approx(b[k].item(), rel=1e-6), k
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
    ev = []
    rows = run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[0], settings={"ldl-kl": {"epochs": 12}},
                          select="all", emit=ev.append)
    hist = [e for e in ev if e["type"] == "epoch"]
    fold = next(e for e in ev if e["type"] == "fold")
    assert [r["select"] for r in rows] == list(S.RULES)
    for rule in S.RULES:
        assert fold["best_epochs"][rule] == S.choose(hist, rule)
    assert fold["best_epochs"]["last"] == 12


def test_the_test_diagnostic_cannot_change_the_chosen_epoch(tiny):
    """Scramble the test fold's labels: the diag events change, the chosen epochs and predictions do not."""
    from ildl.protocol import make_protocol

    test = make_protocol(tiny, "ildl", folds=5).splits[0].test
    runs = []
    for scramble in (False, True):
        ds = make_synthetic(n=200, d=8, n_labels=4, seed=1)
        if scramble:
            ds.Y[test] = ds.Y[test][:, ::-1][np.random.default_rng(0).permutation(len(test))]
        ev, res = [], []
        from ildl.runner import run

        run(dict(task="ldl", dataset="synthetic", methods=["ldl-kl"], folds=5, fold_ids=[0], select="all",
                 diagnostic=True, settings={"ldl-kl": {"epochs": 15}}), dataset=ds, emit=ev.append,
            on_result=res.append)
        runs.append((res[0], [e for e in ev if e["type"] == "diag"], [e for e in ev if e["type"] == "epoch"],
                     next(e for e in ev if e["type"] == "fold")))
    (a, diag_a, ep_a, fa), (b, diag_b, ep_b, fb) = runs
    assert len(diag_a) == 15 and all("never used for selection" in e["note"] for e in diag_a)
    assert [e["test_kl"] for e in diag_a] != [e["test_kl"] for e in diag_b]
    assert fa["best_epochs"] == fb["best_epochs"]
    assert [e["val_kl"] for e in ep_a] == [e["val_kl"] for e in ep_b]
    assert np.array_equal(a.pred, b.pred)


def test_run_experiment_rows_carry_the_rule(tiny):
    rows = run_experiment(tiny, ["uniform", "ldl-kl"], folds=5, fold_ids=[0], settings={"ldl-kl": {"epochs": 3}},
                          select="val_kl,last")
    assert [(r["method"], r["select"]) for r in rows] == [("uniform", "-"), ("ldl-kl", "val_kl"), ("ldl-kl", "last")]


def test_amema_declared_choices():
    x, y = rand(1, 16, 6), dist(1, 16, 4, seed=1)
    # unweighted (Alg. 1 line 15 literally): the branch weights do not enter the parameter step
    a = trainer("amema", {"grad_weighting": "unweighted", "lr": 0.1, "clip": 0.0}, seeds=[1])
    b = trainer("amema", {"grad_weighting": "unweighted", "lr": 0.1, "clip": 0.0, "weig": False}, seeds=[1])
    w = trainer("amema", {"lr": 0.1, "clip": 0.0}, seeds=[1])
    for _ in range(4):
        for t in (a, b, w):
            t.step(batch(x, {"y": y}))
    assert torch.allclose(a.predict(x), b.predict(x), atol=1e-6)
    assert not torch.allclose(w.predict(x), a.predict(x), atol=1e-6)
    # the momentum bound is a declared parameter
    m = trainer("amema", {"mu_max": 0.96, "mu_step": 0.05})
    outs = [m.step(batch(x, {"y": y})) for _ in range(10)]
    assert max(o["mu_ns"].item() for o in outs) == pytest.approx(0.96) and m.state["mu_ns"].item() == pytest.approx(0.96)
    cfg = trainer("amema").method.cfg
    assert cfg["lr"] == 1e-3 and cfg["batch_size"] == 64 and cfg["epochs"] == 50
