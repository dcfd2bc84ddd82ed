import numpy as np
import pytest

from ildl import metrics as M
from ildl.protocol import Scaler, ildl_filter, make_protocol


def test_movie_ildl_protocol_matches_reference(movie):
    pr = make_protocol(movie, "ildl", folds=10)
    sizes = [len(s.kept) for s in pr.splits]
    assert sizes == [126, 126, 127, 128, 126, 132, 123, 126, 122, 128]
    assert all(len(s.val) == 20 for s in pr.splits)
    assert pr.head.tolist() == [True, False, False, False, False]
    # test folds are untouched: they partition the data
    allte = np.concatenate([s.test for s in pr.splits])
    assert sorted(allte.tolist()) == list(range(movie.n))
    for s in pr.splits:
        assert not set(s.kept) & set(s.test)
        assert (movie.Y[s.kept].argmax(1) == 0).mean() > 0.9  # ~97% with label 0 dominant


def test_movie_constant_predictors_reference_figures(movie):
    pr = make_protocol(movie, "ildl", folds=10)
    res = {n: [] for n in M.CONSTANT_PREDICTORS}
    for s in pr.splits:
        yk, yt = movie.Y[s.kept], movie.Y[s.test]
        for n in res:
            res[n].append(M.evaluate(yt, M.constant_prediction(n, yk, yt)))
    mean = {n: {k: np.mean([r[k] for r in v]) for k in ("chebyshev", "kl")} for n, v in res.items()}
    assert mean["uniform"]["chebyshev"] == pytest.approx(0.1807, abs=5e-4)
    assert mean["uniform"]["kl"] == pytest.approx(0.1962, abs=5e-4)
    assert mean["train_mean"]["chebyshev"] == pytest.approx(0.3761, abs=5e-4)
    assert mean["train_mean"]["kl"] == pytest.approx(0.7527, abs=5e-4)
    assert mean["test_mean"]["chebyshev"] == pytest.approx(0.1303, abs=5e-4)
    assert mean["test_mean"]["kl"] == pytest.approx(0.1266, abs=5e-4)


def test_filter_keeps_top_sample_of_every_label():
    Y = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1], [0.6, 0.1, 0.3]])
    # a=1, b=2, c=2, d=0 (L=3): keep y[:,2] < 1/3 and y[:,0] > 2/3 → rows 0, 3 is 0.7>0.667 → 0 and 3
    kept = ildl_filter(Y, (1, 2, 2, 0))
    assert kept.tolist() == [0, 1, 2, 3]  # 1 and 2 enter as the top samples of labels 1 and 2


def test_custom_thresholds_and_kfold(tiny):
    pr = make_protocol(tiny, "ildl", folds=5, thresholds=(1, 1.5, 3, 0))
    assert len(pr.splits) == 5 and pr.thresholds == (1, 1.5, 3, 0)
    kf = make_protocol(tiny, "kfold", folds=5)
    assert all(len(s.kept) == 160 for s in kf.splits)
    with pytest.raises(ValueError, match="thresholds"):
        make_protocol(tiny, "ildl", folds=5, thresholds=(1, 2, 9, 0))


def test_scaler_fits_training_part_only():
    Xtr = np.array([[0.0, 5.0], [2.0, 5.0]])
    s = Scaler("minmax").fit(Xtr)
    assert s.transform(np.array([[1.0, 5.0], [4.0, 7.0]])).tolist() == [[0.5, 0.0], [2.0, 2.0]]
    st = Scaler("standard").fit(Xtr)
    assert st.transform(Xtr)[:, 0].tolist() == [-1.0, 1.0]
