"""Batched training (ildl.batched) against the one-model-at-a-time path, and the studies built on it."""
import numpy as np
import pytest
import torch

from ildl.batched import ModelJob, train_amema
from ildl.data import make_synthetic
from ildl.methods import parse
from ildl.protocol import make_protocol
from ildl.studies import STUDIES, markdown_table, run_study, table
from ildl.trainer import fit_fold, method_config

CPU = torch.device("cpu")


def _compare(ds, sparse, epochs=6, folds=(0, 2, 3)):
    pr = make_protocol(ds, "ildl", folds=5)
    # folds with different numbers of batches per epoch (33, 41, 32 samples at batch 16): padding and
    # models sitting out a step are exercised
    assert len({-(-len(pr.splits[f].train) // 16) for f in folds}) > 1
    jobs, seq, seq_steps = [], [], {}
    for name, ov in STUDIES["amema"].configs.items():
        cfg = method_config(parse("amema"), dict(ov, epochs=epochs, batch_size=16))
        for f in folds:
            tag = dict(config=name, fold=f, method="amema")
            jobs.append(ModelJob(cfg, pr.splits[f], tag))
            ev = []
            seq.append(fit_fold(parse("amema"), cfg, ds, pr.splits[f], pr.head, device=CPU, emit=ev.append))
            seq_steps[(name, f)] = [e for e in ev if e["type"] == "step"]
    bev = []
    out = train_amema(jobs, ds, pr.head, device=CPU, emit=bev.append, sparse=sparse)
    for j, o, s in zip(jobs, out, seq):
        for m in ("chebyshev", "kl", "cosine", "intersection"):
            assert o["row"][m] == pytest.approx(s["row"][m], abs=1e-4), (j.tag, m)
        assert o["best_epoch"] == s["best_epoch"]
        steps = [e for e in bev if e["type"] == "step" and e["config"] == j.tag["config"] and e["fold"] == j.tag["fold"]]
        ref = seq_steps[(j.tag["config"], j.tag["fold"])]
        assert [e["step"] for e in steps] == [e["step"] for e in ref]
        for key in ("w_ns", "mu_s", "mu_ns", "ema_ns", "r"):
            assert np.allclose([e[key] for e in steps], [e[key] for e in ref], rtol=1e-4, atol=1e-6), key


def test_batched_matches_sequential_dense():
    _compare(make_synthetic(n=240, d=8, n_labels=4, seed=4), sparse=False)


def test_batched_matches_sequential_sparse_first_layer():
    ds = make_synthetic(n=240, d=40, n_labels=4, seed=4)
    rng = np.random.default_rng(0)
    ds.X = np.where(rng.random(ds.X.shape) < 0.9, 0.0, np.abs(ds.X)).astype(np.float32)  # 90% zeros, ≥ 0
    _compare(ds, sparse=True)


def test_study_rows_table_and_marks():
    ds = make_synthetic(n=300, d=8, n_labels=4, seed=4)
    rows = run_study("amema", ds, folds=5, overrides={"epochs": 3}, step_events=False)
    trained = [r for r in rows if r["config"] in STUDIES["amema"].configs]
    assert len(trained) == 4 * 5 and {r["study"] for r in rows} == {"amema"}
    t = table(rows, "amema", "Movie")
    assert list(t["config"][:4]) == ["weig+mome", "weig", "mome", "none"]
    assert t.loc[t["config"] == "none", "chebyshev_published"].iloc[0] == 0.175  # spec §6
    assert t[[c for c in t.columns if c.startswith("best_")]].sum().tolist() == [1] * 6  # one best per column
    md = markdown_table(t)
    assert md.count("**") >= 12 and "_uniform_" in md


def test_chunked_study_equals_one_batch():
    ds = make_synthetic(n=200, d=6, n_labels=3, seed=5)
    a = run_study("amema", ds, folds=4, overrides={"epochs": 3}, step_events=False)
    b = run_study("amema", ds, folds=4, overrides={"epochs": 3}, step_events=False, chunk_folds=1)
    key = lambda r: (r["config"], r["fold"])  # noqa: E731
    a, b = sorted(a, key=key), sorted(b, key=key)
    assert [key(r) for r in a] == [key(r) for r in b]
    assert all(x["kl"] == pytest.approx(y["kl"], abs=1e-5) for x, y in zip(a, b))
