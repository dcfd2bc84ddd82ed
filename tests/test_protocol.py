import numpy as np
import pytest

from ildl import metrics as M
from ildl.data import DataError
from ildl.protocol import Scaler, filter_margin, ildl_filter, make_protocol


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


def test_filter_margin_by_hand():
    # L = 3, (a, b, c, d) = (1, 1, 2, 0): keep y_2 < 1/3 and y_0 > 1/3; margins min((1/3 − y_2)/(1/3), (y_0 − 1/3)/(2/3))
    Y = np.array([[0.9, 0.1, 0.0], [0.5, 0.3, 0.2], [0.4, 0.3, 0.3], [0.2, 0.2, 0.6]])
    m = filter_margin(Y, (1, 1, 2, 0))
    assert m == pytest.approx([min(1.0, (0.9 - 1 / 3) * 1.5), min(0.4, (0.5 - 1 / 3) * 1.5),
                               min(0.1, (0.4 - 1 / 3) * 1.5), min(-0.8, -0.2)])
    kept = set(ildl_filter(Y, (1, 1, 2, 0)).tolist()) - set(np.argmax(Y, 0).tolist())  # by the rule, not as a top
    assert kept == {i for i in range(4) if m[i] > 0} - set(np.argmax(Y, 0).tolist())
    assert filter_margin(Y, (3, 0, 2, 0)) == pytest.approx([1.0] * 4)  # a ≥ L and b = 0: nothing is near an edge


def test_the_boundary_split_holds_out_the_kept_samples_nearest_the_edge(movie):
    rnd = make_protocol(movie, "ildl", folds=10)
    bnd = make_protocol(movie, "ildl", folds=10, val_split="boundary")
    for r, b in zip(rnd.splits, bnd.splits):
        assert np.array_equal(r.kept, b.kept) and np.array_equal(r.test, b.test)  # only the split inside moves
        assert len(b.val) == 20 and not set(b.val) & set(b.train)
        m_val, m_tr = filter_margin(movie.Y[b.val], bnd.thresholds), filter_margin(movie.Y[b.train], bnd.thresholds)
        assert (m_val > 0).all()  # the top samples the filter would have removed always train
        assert m_val.max() <= m_tr[m_tr > 0].min()  # the 20 smallest positive margins
    assert np.array_equal(make_protocol(movie, "ildl", folds=10, val_split="boundary", seed=0).splits[3].val,
                          bnd.splits[3].val)
    with pytest.raises(DataError, match="boundary"):
        make_protocol(movie, "kfold", folds=10, val_split="boundary")
    with pytest.raises(DataError, match="validation split"):
        make_protocol(movie, "ildl", folds=10, val_split="nearest")


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


def test_the_validation_split_is_a_run_option_that_reaches_the_folds():
    """`val_split` (CLI `--val-split`) is resolved with the task's options and decides which kept samples the fold
    holds out; the kept set and the test fold stay the same."""
    from helpers import first_ldl_fold
    from ildl import runner
    from ildl.data import make_synthetic

    base = dict(dataset="synthetic", methods=["ldl-kl+shrink"], folds=5)
    assert runner.resolve(base)["val_split"] == "random"
    with pytest.raises(ValueError):
        runner.resolve(dict(base, val_split="edge"))
    data = make_synthetic(n=400, d=6, seed=3)
    folds = {split: first_ldl_fold(data, val_split=split)[1] for split in ("random", "boundary")}
    r, b = folds["random"], folds["boundary"]
    assert np.array_equal(r.ctx["y_kept"], b.ctx["y_kept"]) and np.array_equal(r.ctx["y_test"], b.ctx["y_test"])
    th = make_protocol(data, folds=5).thresholds
    assert filter_margin(b.ctx["y_val"], th).max() < filter_margin(r.ctx["y_val"], th).max()
