"""Long-tailed classification under label shift: losses by hand, identities, data, and the known effect."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ildl import longtail as LT
from ildl.cli import main


def test_lade_regulariser_hand_computed():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.5, 1.5, -1.0], [1.0, 1.0, 0.0], [0.0, -0.5, 2.0]])
    y = torch.tensor([0, 1, 0, 1])  # class 2 absent from the batch: masked
    prior = torch.tensor([0.6, 0.3, 0.1])
    lam, N, C = 0.1, 4, 3
    want = 0.0
    for c in (0, 1):
        first = np.mean([logits[i, c].item() for i in range(N) if y[i] == c])
        second = math.log(sum(math.exp(logits[i, c].item() - math.log(prior[c].item()) - math.log(C))
                              for i in range(N))) - math.log(N)
        want -= prior[c].item() * (first - second - lam * second**2)
    assert LT.lade_regulariser(logits, y, prior, lam).item() == pytest.approx(want, rel=1e-6)


def test_pc_equals_ce_when_test_prior_is_training_prior():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((50, 4))
    p_s = np.array([0.5, 0.3, 0.15, 0.05])
    assert np.allclose(LT.adjust("pc", logits, p_s, p_s), LT.adjust("ce", logits, p_s, p_s))


def test_balanced_softmax_and_la_coincide_for_tau_1():
    logits = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 5, (16,), generator=torch.Generator().manual_seed(1))
    counts = torch.tensor([100.0, 40.0, 10.0, 5.0, 1.0])
    log_prior = torch.log(counts / counts.sum())
    la = LT.loss("la", logits, y, log_prior, dict(tau=1.0))
    bs = LT.loss("balanced-softmax", logits, y, log_prior, {})
    direct = F.cross_entropy(logits + torch.log(counts), y)  # CE(f + log n_y), Ren et al.
    assert la.item() == pytest.approx(bs.item(), abs=1e-6) and bs.item() == pytest.approx(direct.item(), abs=1e-5)


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


def test_few_shot_classes_gain_over_ce_on_digits_lt(tmp_path):
    """The well-established effect (issue acceptance): imbalance 100, uniform test prior, 3 seeds."""
    out = tmp_path / "lt.csv"
    assert main(["run", "--task", "lt", "--dataset", "digits-lt", "--imbalance", "100", "--method",
                 "ce,pc,la,balanced-softmax,lade", "--test-prior", "uniform", "--seeds", "3", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["method", "seed", "test_prior", "acc", "acc_many", "acc_medium", "acc_few", "seconds"]
    few = df.groupby("method")["acc_few"].mean()
    for m in ("pc", "la", "balanced-softmax", "lade"):
        assert few[m] > few["ce"] + 0.2, few


def test_label_shift_page_moves_with_the_prior():
    import json

    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    at = AppTest.from_file(str(ROOT / "pages/7_Label_shift.py"), default_timeout=120).run()
    assert not at.exception and not at.error

    def acc():
        f = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if "Accuracy under this test prior" in json.loads(c.proto.spec)["layout"]["title"]["text"])
        y = f["data"][0]["y"]
        if isinstance(y, dict):  # plotly's base64 encoding of numpy arrays
            import base64

            y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"])).tolist()
        return dict(zip(f["data"][0]["x"], y))

    uniform = acc()
    assert uniform["pc"] > uniform["ce"] and uniform["lade"] > uniform["ce"]
    at.slider(key="shift_shift").set_value(1.0).run()  # test prior = training prior
    forward = acc()
    assert forward != uniform
    # shift +1 is the training profile (up to the integer counts): PC's correction all but vanishes
    assert abs(forward["pc"] - forward["ce"]) < 0.01 < uniform["pc"] - uniform["ce"]
