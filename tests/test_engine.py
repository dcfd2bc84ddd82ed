"""The one engine: determinism, the event schema, stop, early checks, and every study stacked (M models as one
computation) against the same models trained one at a time."""
import threading
import time

import numpy as np
import pytest
import torch

from ildl import events as E
from ildl import report, runner, studies
from ildl.data import make_synthetic
from ildl.runner import run_experiment
from ildl.stack import Rows
from ildl.tasks import compensate

FAST = {"ldl-kl": {"epochs": 5}}


def test_deterministic_for_a_seed(tiny):
    a = run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[0, 1], settings=FAST)
    b = run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[0, 1], settings=FAST)
    c = run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[0, 1], settings=FAST, seed=1)
    ka = [r["kl"] for r in a]
    assert ka == [r["kl"] for r in b]
    assert ka != [r["kl"] for r in c]


def test_classroom_pace_slows_a_run_without_changing_its_numbers(tiny):
    cfg = dict(dataset="synthetic", methods=["amema"], folds=5, fold_ids=[0], settings={"amema": {"epochs": 6}})
    t0 = time.perf_counter()
    fast = runner.run(dict(cfg), tiny)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = runner.run(dict(cfg, pace=0.25), tiny)
    t_slow = time.perf_counter() - t0
    assert [r["kl"] for r in slow] == [r["kl"] for r in fast]  # bit-identical results
    assert t_slow >= 6 * 0.25 > t_fast  # every epoch lasted at least the pace


def test_events_follow_one_schema(tiny):
    ev = []
    rows = run_experiment(tiny, ["uniform", "ldl-kl"], folds=5, fold_ids=[0], settings=FAST, emit=ev.append)
    kinds = [e["type"] for e in ev]
    assert kinds.count("epoch") == 5 and kinds.count("fold") == 2 and kinds.count("start") == 1
    assert all(E.valid(e) for e in ev)  # every event carries type, method and fold
    steps = [e for e in ev if e["type"] == "step"]
    assert steps and all(e["method"] == "ldl-kl" and e["fold"] == 0 and np.isfinite(e["loss"]) for e in steps)
    assert [e["step"] for e in steps] == list(range(1, len(steps) + 1))
    ep = [e for e in ev if e["type"] == "epoch"]
    assert all("val_kl" in e and "val_kl_balanced" in e for e in ep) and ep[0]["best"] is True
    start = next(e for e in ev if e["type"] == "start")
    assert start["device"] == "cpu" and start["stack"] == 1 and start["config"]["epochs"] == 5
    assert {r["method"] for r in rows} == {"uniform", "ldl-kl"}
    with pytest.raises(ValueError, match="lacks"):
        E.make("fold", dict(method="x", fold=0), metrics={})


def test_learns_on_synthetic(tiny):
    rows = run_experiment(tiny, ["uniform", "ldl-kl"], folds=5, fold_ids=[0, 1], settings={"ldl-kl": {"epochs": 150}})
    kl = {m: np.mean([r["kl"] for r in rows if r["method"] == m]) for m in ("uniform", "ldl-kl")}
    assert kl["ldl-kl"] < 0.8 * kl["uniform"]


def test_stop_is_cooperative_and_reports_no_half_trained_fold(tiny):
    stop = threading.Event()
    seen = []

    def emit(e):
        seen.append(e)
        if e["type"] == "epoch" and e["epoch"] == 3:
            stop.set()

    rows = run_experiment(tiny, ["ldl-kl"], folds=5, settings={"ldl-kl": {"epochs": 100}}, emit=emit, stop=stop)
    assert rows == []
    assert max(e["epoch"] for e in seen if e["type"] == "epoch") == 3
    assert seen[-1]["type"] == "fold" and seen[-1]["stopped"] is True and seen[-1]["rows"] == []


def test_post_compensation():
    p = np.array([[0.6, 0.3, 0.1]])
    ps = np.array([0.6, 0.3, 0.1])
    assert compensate(p, ps).tolist()[0] == pytest.approx([1 / 3] * 3)  # p_t uniform: p / p_s → uniform
    assert compensate(p, ps, ps).tolist()[0] == pytest.approx(p[0].tolist())  # p_t = p_s: unchanged


def test_bad_settings_fail_before_training(tiny):
    with pytest.raises(ValueError, match="unknown parameter"):
        run_experiment(tiny, ["ldl-kl"], folds=5, settings={"ldl-kl": {"epochz": 3}})
    with pytest.raises(ValueError, match="outside"):
        run_experiment(tiny, ["ldl-kl"], folds=5, settings={"ldl-kl": {"lr": -1}})
    with pytest.raises(ValueError, match="unknown method"):
        run_experiment(tiny, ["nope"], folds=5)
    with pytest.raises(ValueError, match="fold id"):
        run_experiment(tiny, ["ldl-kl"], folds=5, fold_ids=[99])


def _stacked_vs_alone(study, ds, folds, fold_ids, epochs, **extra):
    """Rows and step trajectories of a study trained stacked and one model at a time."""
    out = []
    for batched in (True, False):
        ev = []
        rows = runner.run(dict(study=study, dataset=ds.name if hasattr(ds, "name") else ds, folds=folds,
                               fold_ids=fold_ids, settings={"*": {"epochs": epochs}}, batched=batched, **extra),
                          dataset=ds, emit=ev.append)
        out.append((rows, ev))
    return out


def _key(r):
    return (r["config"], r["fold"], r.get("test_prior"))


@pytest.mark.parametrize("study,make,extra", [
    ("amema", lambda: make_synthetic(n=240, d=8, n_labels=4, seed=4), dict(batch_size=16)),
    ("dildl", lambda: make_synthetic(n=240, d=8, n_labels=4, seed=4), dict(batch_size=16)),
    ("rda", lambda: make_synthetic(n=240, d=8, n_labels=4, seed=4), dict(batch_size=16)),
    ("group-dir", lambda: __import__("ildl.regression", fromlist=["x"]).load_dir("synthetic-dir", n=300, seed=1), {}),
    ("lt", lambda: "synthetic-lt", {}),
])
def test_every_study_stacked_equals_one_model_at_a_time(study, make, extra):
    ds = make()
    kw = dict(folds=5, fold_ids=[0, 2, 3]) if study != "lt" else dict(folds=2, fold_ids=None)
    settings = {"*": {"epochs": 4, **extra}}
    res = []
    for batched in (True, False):
        ev = []
        rows = runner.run(dict(study=study, dataset=ds if isinstance(ds, str) else ds.name, settings=settings,
                               batched=batched, **kw), dataset=ds, emit=ev.append)
        res.append((sorted(rows, key=_key), ev))
    (a, ev_a), (b, ev_b) = res
    assert [_key(r) for r in a] == [_key(r) for r in b] and len(a) > 0
    metrics = studies.get(study).metrics
    for x, y in zip(a, b):
        for m in metrics:
            if np.isfinite(x[m]) or np.isfinite(y[m]):
                assert x[m] == pytest.approx(y[m], abs=1e-5), (_key(x), m)
    stacked = {e["stack"] for e in ev_a if e["type"] == "start"}
    assert max(stacked) > 1 and {e["stack"] for e in ev_b if e["type"] == "start"} == {1}
    fa = {(e["config"], e["fold"]): e["best_epochs"] for e in ev_a if e["type"] == "fold"}
    fb = {(e["config"], e["fold"]): e["best_epochs"] for e in ev_b if e["type"] == "fold"}
    assert fa == fb
    if study == "amema":  # the per-step trajectories of the branch weights and momenta too
        for key in ("w_ns", "mu_s", "mu_ns", "ema_ns", "r"):
            for cfg in ("weig+mome", "none"):
                ta = [e[key] for e in ev_a if e["type"] == "step" and e["config"] == cfg and e["fold"] == 2]
                tb = [e[key] for e in ev_b if e["type"] == "step" and e["config"] == cfg and e["fold"] == 2]
                assert len(ta) == len(tb) > 0 and np.allclose(ta, tb, rtol=1e-5, atol=1e-7), key


def test_folds_of_different_sizes_are_padded_and_sit_out_extra_steps():
    ds = make_synthetic(n=240, d=8, n_labels=4, seed=4)
    from ildl.protocol import make_protocol

    sizes = {len(make_protocol(ds, "ildl", folds=5).splits[f].train) for f in (0, 2, 3)}
    assert len({-(-n // 16) for n in sizes}) > 1  # a different number of batches per epoch


def test_sparse_first_layer_equals_dense():
    rng = np.random.default_rng(0)
    mats = [np.where(rng.random((n, 40)) < 0.9, 0.0, rng.random((n, 40))).astype(np.float32) for n in (7, 11)]
    dense, sparse = Rows(mats, torch.device("cpu"), sparse=False), Rows(mats, torch.device("cpu"), sparse=True)
    assert sparse.sparse and not dense.sparse
    from ildl.stack import Params, linear

    P = Params.stack([torch.nn.ModuleDict({"l": torch.nn.Linear(40, 5)}) for _ in range(2)], torch.device("cpu"))
    rows = torch.tensor([[0, 3, 6, 0], [1, 10, 2, 5]])
    assert torch.allclose(linear(P, "l", dense.take(rows)), linear(P, "l", sparse.take(rows)), atol=1e-6)


def test_study_rows_table_and_published_figures():
    ds = make_synthetic(n=300, d=8, n_labels=4, seed=4)
    rows = runner.run(dict(study="amema", dataset="synthetic", folds=5, settings={"*": {"epochs": 3}}), dataset=ds)
    trained = [r for r in rows if r["config"] in studies.STUDIES["amema"].configs]
    assert len(trained) == 4 * 5 and {r["study"] for r in rows} == {"amema"}
    t = report.study_table(rows, "amema", "Movie")
    assert list(t["config"][:4]) == ["weig+mome", "weig", "mome", "none"]
    assert t.loc[t["config"] == "none", "chebyshev_published"].iloc[0] == 0.175  # spec §6
    assert t[[c for c in t.columns if c.startswith("best_")]].sum().tolist() == [1] * 6  # one best per column
    md = report.study_markdown(t)
    assert md.count("**") >= 12 and "_uniform_" in md
    assert (t.loc[t["kind"] == "constant", "folds"] == 5).all()  # each fold once, not once per configuration


def test_chunked_study_equals_one_stack():
    ds = make_synthetic(n=200, d=6, n_labels=3, seed=5)
    cfg = dict(study="amema", dataset="synthetic", folds=4, settings={"*": {"epochs": 3}})
    a = runner.run(cfg, dataset=ds)
    b = runner.run(dict(cfg, chunk_folds=1), dataset=ds)
    a, b = sorted(a, key=_key), sorted(b, key=_key)
    assert [_key(r) for r in a] == [_key(r) for r in b]
    assert all(x["kl"] == pytest.approx(y["kl"], abs=1e-5) for x, y in zip(a, b))


@pytest.mark.parametrize("method", ["ldl-kl", "amema", "rda"])
def test_a_training_step_reads_nothing_back_from_the_device(monkeypatch, method):
    """On a GPU every read of a device tensor (.item, .tolist, .cpu, bool) waits for the device: the engine reads
    once per epoch (and once per logged step when step events are on), never per step. Counted on the CPU: the
    reads of a run must not grow with its number of steps."""
    import ildl.engine as E
    from ildl.data import make_synthetic
    from ildl.tasks import get

    task = get("ldl")
    data = make_synthetic(n=300, d=6, seed=1)
    opts = task.resolve_options({})
    folds = task.folds(data, dict(folds=5, seed=0), opts)[:2]
    reads = {"n": 0}
    for name in ("item", "tolist", "cpu", "__bool__"):
        orig = getattr(torch.Tensor, name)

        def wrapped(self, *a, _orig=orig, **k):
            reads["n"] += 1
            return _orig(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, wrapped)

    def count(batch_size: int) -> int:
        jobs = E.make_jobs(task, folds, task.dims(data, opts), [method], {method: {"epochs": 3, "batch_size": batch_size}}, 0)
        reads["n"] = 0
        E.train(task, jobs, device=torch.device("cpu"), step_events=False)
        return reads["n"]

    n_train = folds[0].n("train")
    few, many = count(n_train), count(max(2, n_train // 8))  # 1 step per epoch against about 8
    assert many == few, (few, many)


def test_an_ensemble_is_the_mean_of_its_members_trained_alone():
    """`ensemble` K: K models per fold in the stack, member m seeded seed + m·MEMBER_OFFSET, the result the mean
    of their selected test predictions; member 0 is the job alone and the only one whose events are kept."""
    from dataclasses import replace

    import ildl.engine as E
    from ildl.tasks import get

    task = get("ldl")
    data = make_synthetic(n=300, d=6, seed=1)
    opts = task.resolve_options({})
    folds = task.folds(data, dict(folds=5, seed=0), opts)[:2]
    dims = task.dims(data, opts)
    cpu = torch.device("cpu")

    def jobs(**extra):
        return E.make_jobs(task, folds, dims, ["ldl-kl+la"], {"ldl-kl+la": {"epochs": 4, **extra}}, 0)
    events = []
    ens = E.train(task, jobs(ensemble=3), device=cpu, emit=events.append)
    alone = [E.train(task, [replace(j, seed=j.seed + m * E.MEMBER_OFFSET) for j in jobs()], device=cpu)
             for m in range(3)]
    for i in range(2):
        members = [alone[m][i] for m in range(3)]
        np.testing.assert_allclose(ens[i].pred, np.mean([r.pred for r in members], axis=0), atol=1e-6)
        assert ens[i].best_epochs == members[0].best_epochs
        # KL is convex in p: the mixture is never worse than its members on average (per sample, so in the mean)
        assert ens[i].rows[0]["kl"] <= np.mean([r.rows[0]["kl"] for r in members]) + 1e-12
        assert ens[i].rows[0]["chebyshev"] <= np.mean([r.rows[0]["chebyshev"] for r in members]) + 1e-12
        assert ens[i].rows[0]["stack"] == 6 and ens[i].rows[0]["seconds"] == pytest.approx(
            ens[i].rows[0]["stack_seconds"] / 2)
    assert all("member" not in ev for ev in events)
    assert sum(ev["type"] == "epoch" for ev in events) == 2 * 4
    assert [ev["type"] for ev in events].count("fold") == 2
    # the member-0 curves are the job's own: the same validation record as member 0 trained alone
    first = [ev["val_kl"] for ev in events if ev["type"] == "epoch" and ev["fold"] == folds[0].id]
    solo = []
    E.train(task, jobs(), device=cpu, emit=lambda ev: solo.append(ev["val_kl"])
            if ev["type"] == "epoch" and ev["fold"] == folds[0].id else None)
    np.testing.assert_allclose(first, solo, atol=1e-6)


def test_an_ensemble_costs_its_members_in_the_budget(tiny):
    from ildl import budget
    from ildl.runner import plan, resolve

    def est(k):
        cfg = resolve(dict(dataset="synthetic", methods=["ldl-kl"], folds=5, settings={"ldl-kl": {"ensemble": k}}))
        return budget.estimate(plan(cfg, tiny)[1])
    one, four = est(1), est(4)
    assert four.models == 4 * one.models and four.flops == pytest.approx(4 * one.flops)
    assert four.model_steps == 4 * one.model_steps and four.memory > 3 * one.memory


def test_a_stopped_ensemble_reports_its_members_time():
    """A stopped fold of a K-member ensemble carries the time of its K models (the stack's wall time), not one
    model's share — the same accounting as a finished fold."""
    import time

    from ildl.data import make_synthetic

    ds = make_synthetic(n=300, d=8, n_labels=4, seed=0)
    stop, seen = threading.Event(), []

    def emit(e):
        seen.append(e)
        if e["type"] == "epoch" and e["epoch"] == 40:
            stop.set()

    t0 = time.perf_counter()
    rows = run_experiment(ds, ["ldl-kl"], fold_ids=[0], settings={"ldl-kl": {"epochs": 500, "ensemble": 3}},
                          emit=emit, stop=stop)
    elapsed = time.perf_counter() - t0
    folds = [e for e in seen if e["type"] == "fold"]
    assert rows == [] and len(folds) == 1 and folds[0]["stopped"] is True
    # the one job is the whole stack of 3: its seconds are the stack's wall time (a third of it before)
    assert 0.6 * elapsed < folds[0]["seconds"] <= elapsed
