import threading

import numpy as np
import pytest

from ildl.trainer import compensate, run_experiment, summarise

FAST = {"ldl-kl": {"epochs": 5}}


def test_deterministic_for_a_seed(tiny):
    a = run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[0, 1], settings=FAST)
    b = run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[0, 1], settings=FAST)
    c = run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[0, 1], settings=FAST, seed=1)
    ka = [r["kl"] for r in a]
    assert ka == [r["kl"] for r in b]
    assert ka != [r["kl"] for r in c]


def test_events_stream(tiny):
    ev = []
    rows = run_experiment(tiny, ["uniform", "ldl-kl"], folds=5, fold_ids=[0], settings=FAST, emit=ev.append)
    kinds = [e["type"] for e in ev]
    assert kinds.count("epoch") == 5 and kinds.count("fold") == 2 and kinds.count("start") == 1
    steps = [e for e in ev if e["type"] == "step"]
    assert steps and all(e["method"] == "ldl-kl" and e["fold"] == 0 and np.isfinite(e["loss"]) for e in steps)
    assert [e["step"] for e in steps] == list(range(1, len(steps) + 1))
    ep = [e for e in ev if e["type"] == "epoch"]
    assert all("val_kl" in e for e in ep) and ep[0]["best"] is True
    assert {r["method"] for r in rows} == {"uniform", "ldl-kl"}


def test_learns_on_synthetic(tiny):
    rows = run_experiment(tiny, ["uniform", "ldl-kl"], folds=5, fold_ids=[0, 1], settings={"ldl-kl": {"epochs": 150}})
    s = summarise(rows)
    assert s["ldl-kl"]["kl"][0] < 0.8 * s["uniform"]["kl"][0]


def test_stop_is_cooperative(tiny):
    stop = threading.Event()
    seen = []

    def emit(e):
        seen.append(e)
        if e["type"] == "epoch" and e["epoch"] == 3:
            stop.set()

    rows = run_experiment(tiny, ["ldl-kl"], folds=5, settings={"ldl-kl": {"epochs": 100}}, emit=emit, stop=stop)
    assert rows == []
    assert max(e["epoch"] for e in seen if e["type"] == "epoch") == 3
    assert seen[-1]["type"] == "fold" and seen[-1]["stopped"] is True


def test_post_compensation():
    p = np.array([[0.6, 0.3, 0.1]])
    ps = np.array([0.6, 0.3, 0.1])
    q = compensate(p, ps)  # p_t uniform: p / p_s → uniform
    assert q.tolist()[0] == pytest.approx([1 / 3] * 3)
    assert compensate(p, ps, ps).tolist()[0] == pytest.approx(p[0].tolist())  # p_t = p_s: unchanged


def test_bad_settings_fail_early(tiny):
    with pytest.raises(ValueError, match="unknown parameter"):
        run_experiment(tiny, ["ldl-kl"], folds=5, settings={"ldl-kl": {"epochz": 3}})
    with pytest.raises(ValueError, match="outside"):
        run_experiment(tiny, ["ldl-kl"], folds=5, settings={"ldl-kl": {"lr": -1}})
    with pytest.raises(ValueError, match="unknown method"):
        run_experiment(tiny, ["nope"], folds=5)
