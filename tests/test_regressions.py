"""Issue 12's bugs from the drift between task stacks — one test each (each failed on the old code)."""
import json
import time

import numpy as np
import pandas as pd
import pytest

from ildl import runner, studies
from ildl.cli import main
from ildl.jobs import JobRegistry
from ildl.runs import RunStore
from ildl.tasks import TASKS


def wait(job, timeout=60):
    t0 = time.time()
    while job.running and time.time() - t0 < timeout:
        time.sleep(0.02)


def test_stopping_a_group_dir_run_saves_no_half_trained_fold(tmp_path):
    reg = JobRegistry(RunStore(tmp_path))
    job = reg.submit(dict(task="dir", dataset="synthetic-dir", methods=["group-soft"], fold_ids=[0],
                          settings={"group-soft": {"epochs": 2000}}))
    while job.epochs_done < 2:
        time.sleep(0.01)
    job.request_stop()
    assert job.join(5.0) and job.status == "stopped"
    assert job.rows == [] and RunStore(tmp_path).rows(job.id) == []


@pytest.mark.parametrize("task,dataset,method", [("dir", "synthetic-dir", "group-soft"), ("lt", "synthetic-lt", "lade")])
def test_jobs_honour_device_and_seed_and_emit_start_and_fold_events(tmp_path, task, dataset, method):
    reg = JobRegistry(RunStore(tmp_path))
    results = {}
    for seed in (0, 1):
        job = reg.submit(dict(task=task, dataset=dataset, methods=[method], fold_ids=[0], seed=seed, device="cpu",
                              settings={method: {"epochs": 2}}))
        wait(job)
        assert job.status == "done", job.error
        _, evs = job.log.snapshot()
        kinds = {e["type"] for e in evs}
        assert {"start", "epoch", "fold", "end"} <= kinds
        assert {e["device"] for e in evs if e["type"] == "start"} == {"cpu"}
        results[seed] = [r[TASKS[task].metrics[0]] for r in job.rows]
    assert results[0] != results[1]  # the seed reaches the models


@pytest.mark.parametrize("argv", [
    ["--task", "dir", "--dataset", "synthetic-dir", "--method", "mse,group-ce", "--only-folds", "0"],
    ["--task", "lt", "--dataset", "synthetic-lt", "--method", "ce,lade", "--seeds", "1"]])
def test_cli_events_for_every_task(tmp_path, argv):
    ev = tmp_path / "ev.jsonl"
    assert main(["run", *argv, "--epochs", "2", "--events", str(ev), "--out", str(tmp_path / "o.csv"),
                 "--quiet"]) == 0
    lines = [json.loads(line) for line in ev.read_text().splitlines()]
    assert {"start", "step", "epoch", "fold", "end"} <= {e["type"] for e in lines}
    assert all("method" in e and "fold" in e for e in lines)


def test_cli_seed_reaches_long_tail_models(tmp_path):
    accs = []
    for seed in ("0", "1"):
        out = tmp_path / f"{seed}.csv"
        assert main(["run", "--task", "lt", "--dataset", "synthetic-lt", "--method", "ce", "--seeds", "1", "--seed", seed,
                     "--epochs", "2", "--out", str(out), "--quiet", "--no-save"]) == 0
        accs.append(pd.read_csv(out)["acc"].tolist())
    assert accs[0] != accs[1]


def test_lt_study_imbalance_takes_effect():
    rows = {}
    for R in (5.0, 200.0):
        rows[R] = runner.run(dict(study="lt", dataset="synthetic-lt", folds=1, imbalance=R,
                                  settings={"*": {"epochs": 2}}))
    acc = {R: np.mean([r["acc"] for r in rs if r["config"] == "ce" and r["test_prior"] == "uniform"])
           for R, rs in rows.items()}
    assert acc[5.0] != acc[200.0]
    from ildl import labelshift as LT

    assert LT.load_lt("synthetic-lt", 5.0, 0).counts[-1] > LT.load_lt("synthetic-lt", 200.0, 0).counts[-1]


def test_one_default_fold_count_per_task(tmp_path):
    for name, task in TASKS.items():
        assert runner.resolve(dict(task=name, methods=[next(iter(__import__("ildl.tasks", fromlist=["x"])
                                                                  .methods(name)))]))["folds"] == task.default_folds
    for st in studies.STUDIES.values():
        assert runner.resolve(dict(study=st.name))["folds"] == TASKS[st.task].default_folds


def test_cli_runs_are_saved_runs_the_app_can_open(tmp_path, monkeypatch):
    monkeypatch.setenv("ILDL_RUNS_DIR", str(tmp_path / "runs"))
    assert main(["run", "--dataset", "synthetic", "--method", "uniform,ldl-kl", "--folds", "5", "--only-folds", "0",
                 "--epochs", "2", "--out", str(tmp_path / "o.csv"), "--quiet"]) == 0
    store = RunStore()
    (listed,) = store.list()
    assert listed["status"] == "done" and listed["methods"] == ["uniform", "ldl-kl"]
    preds = store.predictions(listed["id"])
    assert ("ldl-kl", 0) in preds and preds[("ldl-kl", 0)][1].shape[1] == 5
    view = JobRegistry(store).view(listed["id"])
    assert view["status"] == "done" and len(view["rows"]) == 2 and any(e["type"] == "epoch" for e in view["events"])
