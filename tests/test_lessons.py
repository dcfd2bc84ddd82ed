"""Issue 17: the error decomposition, the prior corrections, the generator's signal knob, the decoupling regime and
the explaining verdicts — each against hand-computed values or identities."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ildl import lessons, prior
from ildl import metrics as M
from ildl.data import SYNTHETIC_PRESETS, make_synthetic
from ildl.decouple import identity_terms
from ildl.methods import available, parse
from ildl.report import explain
from ildl.runner import run_experiment
from tests.helpers import batch, ldl_stats, trainer


def test_decomposition_hand_computed():
    y = np.array([[0.6, 0.3, 0.1]])
    p = np.array([[0.5, 0.25, 0.25]])
    r = M.evaluate(y, p)
    dom = 0.6 * np.log(0.6 / 0.5) + 0.4 * np.log(0.4 / 0.5)  # KL([.6,.4] ‖ [.5,.5])
    nd = 0.4 * (0.75 * np.log(0.75 / 0.5) + 0.25 * np.log(0.25 / 0.5))  # (1 − d)·KL([.75,.25] ‖ [.5,.5])
    assert r["kl_dominant"] == pytest.approx(dom, abs=1e-12)
    assert r["kl_nondominant"] == pytest.approx(nd, abs=1e-12)
    assert r["kl"] == pytest.approx(dom + nd, abs=1e-12)
    assert r["dominant_acc"] == 1.0
    assert r["prior_gap"] == pytest.approx(r["kl"])  # one sample: the mean is the sample
    # wrong dominant label, and a prior gap below the KL (joint convexity of KL)
    y2 = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    p2 = np.array([[0.2, 0.5, 0.3], [0.5, 0.3, 0.2]])
    r2 = M.evaluate(y2, p2)
    assert r2["dominant_acc"] == 0.0
    assert 0 <= r2["prior_gap"] <= r2["kl"]


@pytest.mark.parametrize("C", [2, 3, 7])
def test_identity_to_1e12_also_unnormalised_and_with_zeros(C):
    rng = np.random.default_rng(C)
    y = rng.dirichlet(np.full(C, 0.3), 300)
    y[:20] = np.eye(C)[rng.integers(0, C, 20)]  # d_k = 1: no non-dominant part
    p = rng.dirichlet(np.ones(C), 300)
    p[:10, 0] = 0.0  # exact zeros in the prediction (clamped like the kl metric)
    per = M.per_sample(y, p)
    assert np.abs(per["kl"] - per["kl_dominant"] - per["kl_nondominant"]).max() < 1e-9
    assert (per["kl_nondominant"][:20] == 0).all()
    # agrees with the torch identity the Decoupling page shows
    z = torch.log(torch.tensor(np.maximum(p[20:], 1e-300)))
    t = identity_terms(torch.tensor(y[20:]), z)
    assert np.allclose(per["kl_dominant"][20:], t["dominant"].numpy(), atol=1e-9)
    assert np.allclose(per["kl_nondominant"][20:], (t["weight"] * t["nondominant"]).numpy(), atol=1e-9)


def test_by_dominant_degree_bins_partition_the_samples():
    rng = np.random.default_rng(0)
    y, p = rng.dirichlet(np.ones(4), 200), rng.dirichlet(np.ones(4), 200)
    bins = M.by_dominant_degree(y, p)
    assert sum(b["n"] for b in bins) == 200
    assert sum(b["n"] * b["kl"] for b in bins) / 200 == pytest.approx(M.evaluate(y, p)["kl"])


@pytest.fixture(scope="module")
def tiny_rows():
    ds = make_synthetic(n=200, d=5, seed=1)
    methods = ["uniform", "train_mean", "test_mean", *[m for m in available("ldl")], "ldl-kl+la", "ofr-db+pc",
               "dec-kl+la+shrink", "amema+la"]
    settings = {m: {"epochs": 3} for m in methods if not parse(m).constant}
    return run_experiment(ds, methods, folds=5, fold_ids=[0], settings=settings)


def test_every_method_and_constant_carries_the_decomposition(tiny_rows):
    names = {r["method"] for r in tiny_rows}
    assert set(available("ldl")) | {"uniform", "train_mean", "test_mean"} <= names
    for r in tiny_rows:
        for c in M.DIAGNOSTICS:
            assert np.isfinite(r[c]), (r["method"], c)
        assert abs(r["kl"] - r["kl_dominant"] - r["kl_nondominant"]) < 1e-6, r["method"]
        assert 0.0 <= r["dominant_acc"] <= 1.0
        assert r["prior_gap"] <= r["kl"] + 1e-9


def test_csv_has_the_four_columns(tmp_path):
    from ildl.cli import main

    out = tmp_path / "r.csv"
    assert main(["run", "--dataset", "synthetic", "--method", "uniform,ldl-kl+la+shrink", "--folds", "5",
                 "--only-folds", "0", "--epochs", "2", "--out", str(out), "--no-save", "--quiet"]) == 0
    import pandas as pd

    df = pd.read_csv(out)
    for c in (*M.DIAGNOSTICS, "shrink_lambda"):
        assert c in df.columns
    assert (df["kl"] - df["kl_dominant"] - df["kl_nondominant"]).abs().max() < 1e-6
    assert df.loc[df["method"] == "ldl-kl+la+shrink", "shrink_lambda"].between(0, 1).all()


def test_modifier_names():
    s = parse("amema+la+shrink")
    assert (s.base, s.la, s.pc, s.shrink, s.name) == ("amema", True, False, True, "amema+la+shrink")
    assert parse("ofr-db+shrink+pc").name == "ofr-db+pc+shrink"  # canonical order
    assert parse("ldl-kl+la").config()["la_tau"] == 1.0
    assert parse("ldl-kl+la").config({"la_tau": 0.5})["la_tau"] == 0.5
    assert parse("ldl-kl").config()["la_tau"] == 0.0
    with pytest.raises(ValueError, match="one prior correction"):
        parse("ldl-kl+la+pc")
    with pytest.raises(ValueError, match="twice"):
        parse("ldl-kl+la+la")
    with pytest.raises(ValueError, match="la_tau > 0"):
        parse("ldl-kl+la").config({"la_tau": 0})
    with pytest.raises(ValueError, match="applies to label-distribution"):
        parse("lade+shrink")
    with pytest.raises(ValueError, match="constant predictor"):
        parse("uniform+la")


def test_la_loss_is_kl_of_the_adjusted_logits():
    """+la: the loss is KL(y ‖ softmax(z + τ·log p_s)) (spec §3b), hand-computed from the same logits."""
    torch.manual_seed(0)
    stats = ldl_stats(4)
    tr = trainer("ldl-kl", [{"la_tau": 0.0}, {"la_tau": 1.0}, {"la_tau": 0.5}], stats=stats)
    x = torch.randn(1, 5, 6).expand(3, 5, 6).contiguous()
    y = torch.distributions.Dirichlet(torch.ones(4)).sample((5,))[None].expand(3, 5, 4).contiguous()
    terms = tr.method.loss(tr.P, batch(x, {"y": y}), tr.state).terms
    from ildl.nets import mlp_f

    z = mlp_f(tr.P, "net", x)
    logps = torch.log(torch.tensor(stats["prior"], dtype=torch.float32).clamp_min(1e-3))
    for i, tau in enumerate((0.0, 1.0, 0.5)):
        q = torch.log_softmax(z[i] + tau * logps, -1)
        want = (y[i] * (torch.log(y[i]) - q)).sum(-1).mean()
        assert float(terms["loss"][i].detach()) == pytest.approx(float(want.detach()), rel=1e-5)


def test_prior_corrections_hand_computed():
    p = np.array([[0.5, 0.3, 0.2]])
    assert prior.la_target(p).tolist() == p.tolist()  # uniform target: the raw softmax
    q = prior.la_target(p, np.array([0.2, 0.2, 0.6]))
    assert q[0].tolist() == pytest.approx([0.1 / 0.28, 0.06 / 0.28, 0.12 / 0.28])
    assert prior.shrink(p, 1.0)[0].tolist() == pytest.approx([1 / 3] * 3)
    assert prior.shrink(p, 0.5)[0].tolist() == pytest.approx([(0.5 + 1 / 3) / 2, (0.3 + 1 / 3) / 2, (0.2 + 1 / 3) / 2])
    # λ chosen on validation: a prediction that is right gets λ = 0, one that is useless gets a large λ
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(3), 40)
    ps = y.mean(0)
    assert prior.choose_lambda(y, y, ps) == 0.0
    far = np.tile([0.98, 0.01, 0.01], (40, 1))
    assert prior.choose_lambda(far, y, ps) >= 0.8
    assert prior.choose_lambda(far[:0], y[:0], ps) == 1.0  # nothing to confirm it: the target prior


def test_log_linear_shrinkage_hand_computed():
    """p_λ ∝ p^(1−λ)·p_t^λ (spec §3b): λ = 0 keeps p, λ = 1 gives p_t, λ = ½ of (0.9, 0.1) toward uniform is
    ∝ (√0.9, √0.1) = (0.75, 0.25); chosen on validation like the linear form."""
    p = np.array([[0.9, 0.1]])
    assert prior.shrink(p, 0.0, form="log")[0].tolist() == pytest.approx([0.9, 0.1])
    assert prior.shrink(p, 1.0, form="log")[0].tolist() == pytest.approx([0.5, 0.5])
    assert prior.shrink(p, 0.5, form="log")[0].tolist() == pytest.approx([0.75, 0.25])
    q = prior.shrink(p, 0.5, np.array([0.2, 0.8]), form="log")[0]
    assert q.tolist() == pytest.approx([0.6, 0.4])  # √(0.9·0.2) : √(0.1·0.8)
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(3), 40)
    assert prior.choose_lambda(y, y, y.mean(0), form="log") == 0.0
    with pytest.raises(ValueError, match="linear"):
        prior.shrink(p, 0.5, form="geometric")


def test_signal_knob():
    a, b = make_synthetic(), make_synthetic(signal=1.0)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.Y, b.Y)
    lo = make_synthetic(signal=0.0)
    assert np.array_equal(lo.Y, a.Y) and not np.array_equal(lo.X, a.X)  # same labels, other features

    def r2(ds):  # how much of y a linear read-out of x explains
        X = np.c_[ds.X, np.ones(ds.n)]
        coef, *_ = np.linalg.lstsq(X, ds.Y, rcond=None)
        return 1 - ((ds.Y - X @ coef) ** 2).sum() / ((ds.Y - ds.Y.mean(0)) ** 2).sum()

    assert r2(a) > r2(make_synthetic(signal=0.5)) > r2(lo)
    assert r2(lo) < 0.1


def test_presets_are_valid_generator_settings():
    from ildl.config import resolve
    from ildl.data import SYNTHETIC_PARAMS

    for values in SYNTHETIC_PRESETS.values():
        resolve(SYNTHETIC_PARAMS, values)
    assert lessons.REGIME in SYNTHETIC_PRESETS


def test_decoupling_sentence_from_rows():
    rows = [dict(method="ldl-kl", fold=0, kl=0.3, kl_dominant=0.2, kl_nondominant=0.1),
            dict(method="dec-kl", fold=0, kl=0.25, kl_dominant=0.21, kl_nondominant=0.04)]
    holds, text = lessons.decoupling_sentence(rows)
    assert holds and "−60%" in text.replace("-", "−")
    rows[1]["kl_dominant"] = 0.3  # +50%: not comparable
    holds, text = lessons.decoupling_sentence(rows)
    assert not holds and "15%" in text


def test_learning_curves_average_over_folds():
    ev = [dict(type="diag", method="ldl-kl", fold=f, epoch=e, test_kl=1.0 * e + f, test_kl_dominant=0.5,
               test_kl_nondominant=f) for f in (0, 1) for e in (1, 2)]
    c = lessons.learning_curves(ev)
    assert c["test_kl"].tolist() == [1.5, 2.5] and c["test_kl_nondominant"].tolist() == [0.5, 0.5]


def test_explain_names_the_prior_and_the_fix():
    base = dict(select="val_kl_balanced", top_test=2)
    rows = [dict(method="uniform", fold=0, select="-", kl=0.2, kl_dominant=0.1, kl_nondominant=0.1, prior_gap=0.07,
                 dominant_acc=0.05, top_pred=0, top_test=2),
            dict(method="amema", fold=0, kl=0.4, kl_dominant=0.15, kl_nondominant=0.25, prior_gap=0.3,
                 dominant_acc=0.1, top_pred=0, **base),
            dict(method="amema+la", fold=0, kl=0.25, kl_dominant=0.1, kl_nondominant=0.15, prior_gap=0.1,
                 dominant_acc=0.5, top_pred=2, **base)]
    text = " ".join(explain(rows))
    assert "75% of it is the label prior" in text
    assert "label 0 where the test folds centre on label 2" in text
    assert "loses to uniform by 0.200 KL (+0.050 on the dominant degree, +0.150 on the non-dominant shape)" in text
    assert "**amema+la** removes 67% of the prior gap" in text


def test_the_shrinkage_form_is_a_run_option_that_reaches_the_evaluation(tmp_path):
    """`shrink_form` (CLI `--shrink-form`) is resolved with the task's options, travels in the fold and decides
    the +shrink prediction: over-confident predictions get a λ strictly inside (0, 1) under both forms, and each
    row is the named form at its λ."""
    from helpers import first_ldl_fold
    from ildl import cli, runner
    from ildl.data import make_synthetic
    from ildl.metrics import kl_rows

    base = dict(dataset="synthetic", methods=["ldl-kl+shrink"], folds=5)
    assert runner.resolve(base)["shrink_form"] == "linear"
    with pytest.raises(ValueError):
        runner.resolve(dict(base, shrink_form="geometric"))
    data = make_synthetic(n=400, d=6, seed=3)
    got = {}
    for form in ("linear", "log"):
        task, fold = first_ldl_fold(data, shrink_form=form)
        sharp = [0.5 * y + 0.5 * np.eye(data.n_labels)[y.argmax(1)] for y in (fold.ctx["y_test"], fold.ctx["y_val"])]
        row = task.evaluate(fold, sharp[0], {"la_tau": 0.0}, shrink_to=True, val=sharp[1])[0]
        lam = row["shrink_lambda"]
        assert 0 < lam < 1
        want = prior.shrink(sharp[0], lam, None, form)
        assert row["kl"] == pytest.approx(float(np.mean(kl_rows(fold.ctx["y_test"], want))), rel=1e-9)
        got[form] = row["kl"]
    assert got["linear"] != pytest.approx(got["log"], rel=1e-6)
    out = tmp_path / "r.csv"
    assert cli.main(["run", "--dataset", "synthetic", "--method", "ldl-kl+shrink", "--only-folds", "0", "--epochs", "2",
                     "--shrink-form", "log", "--out", str(out), "--quiet", "--no-save"]) == 0
