import io

import numpy as np
import pytest
import scipy.io as sio

from ildl import data as D
from ildl.protocol import make_protocol


def mat_bytes(**arrays):
    buf = io.BytesIO()
    sio.savemat(buf, arrays)
    return buf.getvalue()


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


GOOD_X = np.random.default_rng(0).random((30, 4))
GOOD_Y = np.random.default_rng(1).dirichlet(np.ones(3), 30)


def test_bundled_movie_loads():
    ds = D.load("Movie")
    assert (ds.n, ds.d, ds.n_labels) == (7755, 1869, 5)
    assert ds.thresholds == (1, 2, 2, 0)
    assert np.allclose(ds.Y.sum(1), 1, atol=1e-5)


def test_fgnet_has_age_and_is_renormalised():
    ds = D.load("FG-Net")
    assert ds.extras["age"].shape == (1002,) and ds.task == "ldl+dir"
    assert ds.warnings and "renormalised" in ds.warnings[0]


@pytest.mark.parametrize("fmt", ["mat", "npz"])
def test_roundtrip_formats(fmt, tmp_path):
    raw = (mat_bytes if fmt == "mat" else npz_bytes)(features=GOOD_X, labels=GOOD_Y)
    ds = D.load_bytes(raw, f"mine.{fmt}")
    assert ds.X.shape == (30, 4) and np.allclose(ds.Y, GOOD_Y, atol=1e-6)
    p = tmp_path / f"mine.{fmt}"
    p.write_bytes(raw)
    assert D.load(str(p)).n == 30


def test_csv_named_and_given_label_columns():
    import pandas as pd

    df = pd.DataFrame(GOOD_X, columns=[f"f{i}" for i in range(4)])
    for j in range(3):
        df[f"label_{j}"] = GOOD_Y[:, j]
    ds = D.load_bytes(df.to_csv(index=False).encode(), "x.csv")
    assert ds.d == 4 and ds.n_labels == 3 and ds.labels() == ["label_0", "label_1", "label_2"]
    df2 = df.rename(columns={f"label_{j}": f"emo{j}" for j in range(3)})
    with pytest.raises(D.DataError, match="no label columns"):
        D.load_bytes(df2.to_csv(index=False).encode(), "x.csv")
    assert D.load_bytes(df2.to_csv(index=False).encode(), "x.csv", label_columns=["emo0", "emo1", "emo2"]).d == 4
    assert D.load_bytes(df2.to_csv(index=False).encode(), "x.csv", label_columns=3).n_labels == 3


@pytest.mark.parametrize("arrays,match", [
    (dict(feats=GOOD_X, labels=GOOD_Y), r"missing key\(s\) \['features'\]"),
    (dict(features=GOOD_X, labels=GOOD_Y[:20]), "30 feature rows but 20 label rows"),
    (dict(features=GOOD_X, labels=np.where(np.arange(30)[:, None] == 3, np.nan, GOOD_Y)), "NaN/inf value"),
    (dict(features=np.where(np.arange(30)[:, None] == 3, np.inf, GOOD_X), labels=GOOD_Y), "NaN/inf value"),
    (dict(features=GOOD_X, labels=GOOD_Y * np.where(np.arange(30)[:, None] == 2, -1, 1)), "non-negative"),
    (dict(features=GOOD_X, labels=GOOD_Y * 2), "do not sum to 1"),
    (dict(features=GOOD_X, labels=np.vstack([np.zeros((1, 3)), GOOD_Y[1:]])), "sum to 0"),
    (dict(features=GOOD_X, labels=np.ones((30, 1))), "at least 2 labels"),
])
@pytest.mark.parametrize("fmt", ["mat", "npz"])
def test_bad_input_messages(arrays, match, fmt):
    raw = (mat_bytes if fmt == "mat" else npz_bytes)(**arrays)
    with pytest.raises(D.DataError, match=match):
        D.load_bytes(raw, f"bad.{fmt}")


def test_close_rows_are_renormalised_with_a_warning():
    Y = GOOD_Y * 1.004
    ds = D.load_bytes(npz_bytes(features=GOOD_X, labels=Y), "x.npz")
    assert np.allclose(ds.Y.sum(1), 1, atol=1e-6)
    assert "renormalised" in ds.warnings[0]


def test_pickled_npz_is_refused():
    obj = np.empty(2, dtype=object)
    obj[:] = [{"a": 1}, {"b": 2}]
    buf = io.BytesIO()
    np.savez(buf, features=obj, labels=GOOD_Y)
    with pytest.raises(D.DataError, match="pickl"):
        D.load_bytes(buf.getvalue(), "evil.npz")


def test_garbage_huge_empty_and_unknown():
    with pytest.raises(D.DataError, match="not a readable"):
        D.load_bytes(b"this is not a mat file at all" * 10, "x.mat")
    with pytest.raises(D.DataError, match="larger than"):
        D.load_bytes(b"0" * (D.MAX_BYTES + 1), "x.npz")
    with pytest.raises(D.DataError, match="empty"):
        D.load_bytes(b"", "x.csv")
    with pytest.raises(D.DataError, match="unsupported format"):
        D.load_bytes(b"abc", "x.pkl")
    with pytest.raises(D.DataError, match="unknown dataset"):
        D.load("no-such-thing")


def test_fewer_samples_than_folds():
    ds = D.load_bytes(npz_bytes(features=GOOD_X[:5], labels=GOOD_Y[:5]), "small.npz")
    with pytest.raises(D.DataError, match="fewer than 10 folds"):
        make_protocol(ds, "kfold", folds=10)


def test_synthetic_is_deterministic_and_controlled():
    a = D.make_synthetic(n=300, d=6, n_labels=4, dominance=0.7, skew=20, seed=3)
    b = D.make_synthetic(n=300, d=6, n_labels=4, dominance=0.7, skew=20, seed=3)
    c = D.make_synthetic(n=300, d=6, n_labels=4, dominance=0.7, skew=20, seed=4)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.Y, b.Y) and not np.array_equal(a.X, c.X)
    assert a.X.shape == (300, 6) and a.n_labels == 4
    assert abs(a.Y.max(1).mean() - 0.7) < 0.05  # "dominance" is the mean dominant degree
    lo = D.make_synthetic(n=2000, dominance=0.4, skew=1, seed=0)
    hi = D.make_synthetic(n=2000, dominance=0.4, skew=50, seed=0)
    counts_lo, counts_hi = np.bincount(lo.Y.argmax(1)), np.bincount(hi.Y.argmax(1))
    assert counts_hi[0] / counts_hi[-1] > 3 * counts_lo[0] / counts_lo[-1]  # skew makes label 0 dominate


def test_the_centre_profile_puts_the_filtered_label_where_the_test_folds_centre():
    """profile=centre: the middle label dominates most often (skew× the ends), the ILDL thresholds keep it rare
    in training (c = C//2), so under the protocol the training mass centres on L0 and the test mass on L2 — the
    structure of Movie's filter. The tail profile is the generator as it was (same draws, c = C − 1)."""
    from ildl.protocol import make_protocol

    tail, same = D.make_synthetic(seed=2), D.make_synthetic(seed=2, profile="tail")
    assert np.array_equal(tail.X, same.X) and np.array_equal(tail.Y, same.Y) and tail.thresholds == (1, 2.0, 4, 0)
    ds = D.make_synthetic(n=4000, skew=10.0, profile="centre", seed=0)
    assert ds.thresholds == (1, 2.0, 2, 0)
    counts = np.bincount(ds.Y.argmax(1), minlength=5)
    assert counts.argmax() == 2 and 5 < counts[2] / counts[0] < 20 and 5 < counts[2] / counts[4] < 20
    prot = make_protocol(ds, "ildl")
    train = np.mean([ds.Y[s.kept].mean(0) for s in prot.splits], axis=0)
    test = np.mean([ds.Y[s.test].mean(0) for s in prot.splits], axis=0)
    assert train.argmax() == 0 and test.argmax() == 2 and train[2] < 0.2 < test[2]
    assert D.make_synthetic(n=60, n_labels=2, profile="centre").thresholds[2] == 1  # C = 2: the middle is label 1
    with pytest.raises(D.DataError, match="profile"):
        D.make_synthetic(profile="middle")


@pytest.mark.parametrize("filename, bench", [("Natural_Scene.mat", "Natural Scene"), ("natural scene.mat", "Natural Scene"),
                                             ("scut_fbp.mat", "SCUT-FBP"), ("Flickr_LDL.mat", "Flickr-LDL"),
                                             ("RAF-ML.mat", "RAF-ML"), ("emotion6.mat", "Emotion6")])
def test_a_benchmark_file_spelt_as_distributed_gets_its_published_filter(filename, bench):
    """The other ILDL benchmarks are not bundled; their files come spelt many ways, their filter is fixed."""
    rng = np.random.default_rng(2)
    L = 9  # enough labels for every published filter (Natural Scene's d = 4, SCUT-FBP's 4)
    ds = D.load_bytes(mat_bytes(features=rng.random((200, 5)), labels=rng.dirichlet(np.ones(L), 200)), filename)
    assert ds.thresholds == D.ILDL_THRESHOLDS[bench]
    said = any(bench in w and "published ILDL filter" in w for w in ds.warnings)
    assert said == (filename[:-4] != bench)  # a spelling other than the benchmark's own is named
    a, b, c, d = ds.thresholds  # and the protocol applies exactly that filter to every training part
    proto = make_protocol(ds, "ildl")
    for s in proto.splits:
        kept = np.concatenate([s.train, s.val])
        per_label_max = {int(np.argmax(ds.Y[:, j] * np.isin(np.arange(ds.n), kept))) for j in range(L)}
        plain = [i for i in kept if i not in per_label_max]
        assert all(ds.Y[i, c] < a / L and ds.Y[i, d] > b / L for i in plain)


def test_a_file_named_like_a_benchmark_with_other_labels_gets_no_filter_and_says_why():
    rng = np.random.default_rng(3)  # 3 labels: Natural Scene's d = 4 is not a label here
    ds = D.load_bytes(mat_bytes(features=rng.random((40, 4)), labels=rng.dirichlet(np.ones(3), 40)), "Natural_Scene.mat")
    assert ds.thresholds is None
    assert any("does not fit 3 labels" in w for w in ds.warnings)
    with pytest.raises(D.DataError, match="needs thresholds"):
        make_protocol(ds, "ildl")
    assert D.known_thresholds("movie") == ("Movie", (1, 2, 2, 0)) and D.known_thresholds("SCUT-FBP5500") is None
