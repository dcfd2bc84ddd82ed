import numpy as np
import pytest

from ildl import metrics as M


def test_hand_computed_example():
    y = np.array([[0.5, 0.5, 0.0]])
    p = np.array([[0.25, 0.25, 0.5]])
    r = M.evaluate(y, p, head=np.array([True, False, False]))
    assert r["chebyshev"] == pytest.approx(0.5)
    assert r["clark"] == pytest.approx(np.sqrt(2 * 0.0625 / 0.5625 + 1.0))
    assert r["canberra"] == pytest.approx(2 * 0.25 / 0.75 + 1.0)
    assert r["kl"] == pytest.approx(np.log(2))
    assert r["cosine"] == pytest.approx(0.25 / (np.sqrt(0.5) * np.sqrt(0.375)))
    assert r["intersection"] == pytest.approx(0.5)
    assert r["euclidean"] == pytest.approx(np.sqrt(0.375))
    assert r["euclidean_head"] == pytest.approx(0.25)
    assert r["euclidean_tail"] == pytest.approx(np.sqrt(0.0625 + 0.25))


def test_perfect_prediction_and_averaging():
    y = np.array([[0.2, 0.8], [0.6, 0.4]])
    r = M.evaluate(y, y)
    assert r["chebyshev"] == 0 and r["kl"] == pytest.approx(0) and r["intersection"] == pytest.approx(1)
    assert r["cosine"] == pytest.approx(1)
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    per = M.per_sample(y, p)
    assert per["chebyshev"].tolist() == pytest.approx([0.3, 0.1])
    assert M.evaluate(y, p)["chebyshev"] == pytest.approx(0.2)


def test_zero_prediction_is_finite():
    y = np.array([[0.5, 0.5]])
    r = M.evaluate(y, np.array([[1.0, 0.0]]))
    assert all(np.isfinite(v) for v in r.values())
    assert r["kl"] == pytest.approx(0.5 * np.log(0.5 / 1e-14) + 0.5 * np.log(0.5))


def test_constant_predictors():
    ytr = np.array([[1.0, 0.0], [0.5, 0.5]])
    yte = np.array([[0.0, 1.0]])
    assert M.constant_prediction("uniform", ytr, yte).tolist() == [0.5, 0.5]
    assert M.constant_prediction("train_mean", ytr, yte).tolist() == [0.75, 0.25]
    assert M.constant_prediction("test_mean", ytr, yte).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError):
        M.constant_prediction("median", ytr, yte)
