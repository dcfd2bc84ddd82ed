import threading
import time

import pytest

from ildl.data import DataError
from ildl.jobs import EventLog, JobRegistry
from ildl.runs import RunStore


def wait(job, timeout=30):
    t0 = time.time()
    while job.running and time.time() - t0 < timeout:
        time.sleep(0.02)


def test_job_runs_in_background_and_persists(tmp_path):
    reg = JobRegistry(RunStore(tmp_path))
    job = reg.submit(dict(dataset="synthetic", dataset_kw=dict(n=200, d=8), methods=["uniform", "ldl-kl"],
                          folds=5, fold_ids=[0], settings={"ldl-kl": {"epochs": 5}}))
    wait(job)
    assert job.status == "done" and len(job.rows) == 2 and job.progress == 1.0
    store = RunStore(tmp_path)
    (listed,) = store.list()
    assert listed["id"] == job.id and listed["status"] == "done"
    cfg = store.config(job.id)
    assert cfg["settings"]["ldl-kl"]["epochs"] == 5 and cfg["settings"]["ldl-kl"]["hidden"] == 100
    assert cfg["dataset_kw"]["n"] == 200 and cfg["dataset_kw"]["skew"] == 10.0  # resolved defaults
    evs = store.events(job.id)
    assert sum(e["type"] == "epoch" for e in evs) == 5
    assert "ldl-kl" in store.results_csv(job.id)
    preds = store.predictions(job.id)
    idx, pred = preds[("ldl-kl", 0)]
    assert pred.shape == (len(idx), 5) and abs(pred.sum(1) - 1).max() < 1e-4 and ("uniform", 0) in preds
    store.delete(job.id)
    assert store.list() == []


def test_stop_ends_thread_quickly_and_failures_are_recorded(tmp_path):
    reg = JobRegistry(RunStore(tmp_path))
    before = threading.active_count()
    job = reg.submit(dict(dataset="synthetic", methods=["ldl-kl"], settings={"ldl-kl": {"epochs": 5000}}))
    while job.epochs_done < 2:
        time.sleep(0.01)
    t0 = time.time()
    job.request_stop()
    assert job.join(2.0) and time.time() - t0 < 1.0
    assert job.status == "stopped"
    assert threading.active_count() == before
    with pytest.raises(DataError, match="unknown dataset"):  # refused at once, before a run exists
        reg.submit(dict(dataset="does-not-exist", methods=["ldl-kl"]))
    # a failure while training is recorded and leaves the registry usable
    bad = reg.submit(dict(dataset="synthetic", dataset_kw=dict(n=100, d=4), methods=["ldl-kl+pc"], fold_ids=[0],
                          pc_target=[0.5, 0.5], settings={"ldl-kl": {"epochs": 1}}))
    wait(bad)
    assert bad.status == "failed" and "pc_target has 2 numbers" in bad.error
    assert RunStore(tmp_path).status(bad.id)["status"] == "failed"


def test_event_log_thins_steps():
    log = EventLog(max_steps=100)
    for i in range(1000):
        log.append(dict(type="step", step=i))
    log.append(dict(type="epoch", epoch=1))
    steps, other = log.snapshot()
    assert len(steps) <= 100 and steps[-1]["step"] >= 990 and len(other) == 1


def test_registry_keeps_bounded_finished_jobs_and_reads_old_runs_from_disk(tmp_path):
    reg = JobRegistry(RunStore(tmp_path), keep_finished=2)
    ids = []
    for _ in range(4):
        j = reg.submit(dict(dataset="synthetic", dataset_kw=dict(n=100, d=4), methods=["uniform"], fold_ids=[0]))
        j.join()
        ids.append(j.id)
    assert len(reg.jobs()) <= 3  # the newest job plus at most 2 finished
    old = reg.view(ids[0])
    assert old is not None and old["live"] is False and old["status"] == "done" and len(old["rows"]) == 1


def test_the_cli_and_the_app_write_a_run_through_the_same_lifecycle(tmp_path, monkeypatch):
    """Same status fields (owner, pid, created, started, finished, progress), same event stream ending in 'end',
    the same results; only the owner differs."""
    import os

    from ildl import cli

    monkeypatch.setenv("ILDL_RUNS_DIR", str(tmp_path / "cli"))
    cfg = dict(dataset="synthetic", methods=["uniform", "ldl-kl"], fold_ids=[0], settings={"ldl-kl": {"epochs": 3}})
    assert cli.main(["run", "--dataset", "synthetic", "--method", "uniform,ldl-kl", "--only-folds", "0",
                     "--epochs", "3", "--out", str(tmp_path / "r.csv"), "--quiet"]) == 0
    cstore = RunStore(tmp_path / "cli")
    (cid,) = cstore.ids()
    job = JobRegistry(RunStore(tmp_path / "app")).submit(cfg, owner="browser")
    assert job.join(60) and job.status == "done"
    astore = RunStore(tmp_path / "app")
    cst, ast = cstore.status(cid), astore.status(job.id)
    assert set(cst) == set(ast) - {"estimate"}
    for st in (cst, ast):
        assert st["status"] == "done" and st["pid"] == os.getpid() and st["error"] is None
        assert st["created"] <= st["started"] <= st["finished"] and st["epochs_done"] == st["total_epochs"] == 3
    assert (cst["owner"], ast["owner"]) == ("cli", "browser")
    cev, aev = cstore.events(cid), astore.events(job.id)
    assert [e["type"] for e in cev] == [e["type"] for e in aev] and {**cev[-1], "t": 0} == {**aev[-1], "t": 0}
    crow, arow = cstore.rows(cid), astore.rows(job.id)
    assert [(r["method"], r["fold"]) for r in crow] == [(r["method"], r["fold"]) for r in arow]
    assert [r["kl"] for r in crow] == pytest.approx([r["kl"] for r in arow])
    assert sorted(p.name for p in (cstore.root / cid / "pred").iterdir()) == \
        sorted(p.name for p in (astore.root / job.id / "pred").iterdir())
