"""Long-tailed classification under label shift: identities, data, and the known effect."""
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import batch, rand, trainer
from ildl import labelshift as LT
from ildl.cli import main
from ildl.methods.longtail import adjust


def test_pc_equals_ce_when_test_prior_is_training_prior():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((50, 4))
    p_s = np.array([0.5, 0.3, 0.15, 0.05])
    assert np.allclose(adjust("pc", logits, p_s, p_s), adjust("ce", logits, p_s, p_s))


def test_balanced_softmax_and_la_coincide_for_tau_1():
    x = rand(1, 16, 6)
    y = torch.randint(0, 4, (1, 16), generator=torch.Generator().manual_seed(1))
    la, bs = trainer("la", {"tau": 1.0}, seeds=[3]), trainer("balanced-softmax", seeds=[3])
    for _ in range(3):
        a, b = la.step(batch(x, {"y": y})), bs.step(batch(x, {"y": y}))
        assert a["loss"].item() == pytest.approx(b["loss"].item(), abs=1e-6)
    assert torch.allclose(la.predict(x), bs.predict(x))


def test_data_profiles_and_priors():
    d = LT.make_digits_lt(100, seed=0)
    assert d.counts[0] / d.counts[-1] >= 100 and (np.diff(d.counts) <= 0).all()
    assert np.bincount(d.y_pool).tolist() == [30] * 10  # a balanced test pool
    assert np.array_equal(LT.make_digits_lt(100, seed=0).X_train, d.X_train)  # deterministic for a seed
    fw, bw = LT.test_prior("forward50", 10), LT.test_prior("backward50", 10)
    assert fw[0] / fw[-1] == pytest.approx(50) and np.allclose(bw, fw[::-1])
    idx = LT.shifted_test_set(d, fw)
    counts = np.bincount(d.y_pool[idx], minlength=10)
    assert counts[0] == 30 and counts[0] > counts[-1]
    assert LT.test_prior("1,1,2,0,0,0,0,0,0,0", 10)[2] == pytest.approx(0.5)
    assert list(d.shots()[:2]) == ["many", "many"] and d.shots()[-1] == "few"
    assert np.allclose(LT.shifted_prior(50, 1.0, 10), fw) and np.allclose(LT.shifted_prior(50, -1.0, 10), bw)
    assert np.allclose(LT.shifted_prior(50, 0.0, 10), 0.1)


def test_few_shot_classes_gain_over_ce_on_digits_lt(tmp_path):
    """The well-established effect: imbalance 100, uniform test prior, 3 seeds."""
    out = tmp_path / "lt.csv"
    assert main(["run", "--task", "lt", "--dataset", "digits-lt", "--imbalance", "100", "--method",
                 "ce,pc,la,balanced-softmax,lade", "--test-prior", "uniform", "--seeds", "3", "--out", str(out),
                 "--quiet", "--no-save"]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["method", "fold", "test_prior", "select", "acc", "acc_many", "acc_medium", "acc_few",
                                "seconds", "stack", "stack_seconds", "settings"]
    few = df.groupby("method")["acc_few"].mean()
    for m in ("pc", "la", "balanced-softmax", "lade"):
        assert few[m] > few["ce"] + 0.2, few
