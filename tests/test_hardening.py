"""Issue 13: a shared server that one file, one corrupt run or one visitor cannot take down — one test per failure
reported (each failed on the code before)."""
import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.io as sio
import scipy.sparse as sp

from conftest import ROOT
from ildl import data as D
from ildl import runner
from ildl.cli import main
from ildl.jobs import BudgetError, JobRegistry
from ildl.runs import RunStore


def wait(job, timeout=60):
    t0 = time.time()
    while job.running and time.time() - t0 < timeout:
        time.sleep(0.02)


def cli_error(capsys, argv):
    """Run the CLI; return its one error line (exit code 2, no traceback)."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ------------------------------------------------------------------------------------------ memory and time
def zeros_npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, features=np.zeros((2000, 200000), np.float32), labels=np.full((2000, 2), 0.5))
    return buf.getvalue()


def test_a_small_npz_that_expands_to_gigabytes_is_refused_unread(tmp_path, capsys):
    raw = zeros_npz()
    assert len(raw) < 2 * 2**20
    with pytest.raises(D.DataError, match="400 M values once decompressed"):
        D.load_bytes(raw, "zeros.npz")
    p = tmp_path / "zeros.npz"
    p.write_bytes(raw)
    # the CLI in a subprocess under a 1 GB address-space cap: refused, not a MemoryError traceback
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)); "
            "from ildl.cli import main; sys.exit(main(sys.argv[1:]))")
    out = subprocess.run([sys.executable, "-c", code, "run", "--dataset", str(p), "--method", "uniform",
                          "--thresholds", "1,2,1,0", "--out", str(tmp_path / "o.csv")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "once decompressed" in out.stderr and "Traceback" not in out.stderr


def test_a_sparse_mat_that_expands_is_refused_from_its_header():
    buf = io.BytesIO()
    sio.savemat(buf, dict(features=sp.random(20000, 20000, density=1e-5, format="csc"), labels=np.full((20000, 2), .5)))
    assert len(buf.getvalue()) < 2**20
    with pytest.raises(D.DataError, match="once decompressed"):
        D.load_bytes(buf.getvalue(), "sparse.mat")


def test_only_regular_files_are_read(tmp_path, capsys):
    link = tmp_path / "zero.mat"
    link.symlink_to("/dev/zero")
    assert "not a regular file" in cli_error(capsys, ["run", "--dataset", str(link), "--method", "uniform",
                                                       "--out", str(tmp_path / "o.csv")])
    fifo = tmp_path / "pipe.mat"
    os.mkfifo(fifo)
    t0 = time.time()
    with pytest.raises(D.DataError, match="not a regular file"):
        D.load(str(fifo))
    assert time.time() - t0 < 5  # refused, not hanging on the pipe


def test_group_count_is_bounded(tmp_path, capsys):
    err = cli_error(capsys, ["run", "--task", "dir", "--dataset", "synthetic-dir", "--method", "group-soft",
                             "--groups", "100000", "--out", str(tmp_path / "o.csv")])
    assert "groups" in err and "outside" in err


def test_concurrent_jobs_queue_behind_a_server_wide_limit(tmp_path):
    reg = JobRegistry(RunStore(tmp_path), max_running=1)
    cfg = dict(dataset="synthetic", dataset_kw=dict(n=200, d=8), methods=["ldl-kl"], fold_ids=[0],
               settings={"ldl-kl": {"epochs": 40}})
    jobs = [reg.submit(cfg, owner=f"visitor{i}") for i in range(3)]  # three visitors, one slot
    peak = 0
    t0 = time.time()
    while any(j.running for j in jobs) and time.time() - t0 < 60:
        peak = max(peak, sum(j.status == "running" for j in jobs))
        time.sleep(0.005)
    assert peak == 1 and all(j.status == "done" for j in jobs)
    # a queued job can be stopped before it ever runs
    slow = [reg.submit(dict(cfg, settings={"ldl-kl": {"epochs": 3000}}), owner="a") for _ in range(2)]
    while slow[0].status != "running":
        time.sleep(0.01)
    assert slow[1].status == "queued" and reg.queue_position(slow[1]) == 0
    slow[1].request_stop()
    assert slow[1].join(2.0) and slow[1].status == "stopped" and slow[1].epochs_done == 0
    slow[0].request_stop()
    assert slow[0].join(2.0)


def test_a_run_over_budget_is_refused_before_it_starts_with_the_estimate(tmp_path):
    reg = JobRegistry(RunStore(tmp_path))
    hostile = dict(dataset="synthetic", dataset_kw=dict(n=20000, d=2000, n_labels=30), protocol="kfold",
                   methods=["ldl-kl"], fold_ids=[0], settings={"ldl-kl": dict(epochs=5000, batch_size=1, hidden=2048)})
    with pytest.raises(BudgetError, match=r"too large for this server.*optimiser steps.*about [\d.]+ h here"):
        reg.submit(hostile)
    assert RunStore(tmp_path).list() == []  # nothing was created


def test_step_events_are_thinned_on_disk(tmp_path):
    from ildl.runs import RunWriter

    w = RunWriter(tmp_path, max_steps=100)
    for i in range(1000):
        w.event(dict(type="step", method="m", fold=0, step=i))
    w.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert 100 < len(lines) < 300 and json.loads(lines[-1])["step"] >= 900


# ------------------------------------------------------------------------------------- corrupt runs on disk
def damaged_store(tmp_path):
    """A store with one good run and one run damaged in each way the issue lists."""
    store = RunStore(tmp_path)
    reg = JobRegistry(store)
    good = reg.submit(dict(dataset="synthetic", dataset_kw=dict(n=120, d=4), methods=["uniform"], fold_ids=[0]))
    wait(good)
    bad = {}

    def make(name, **files):
        d = tmp_path / name
        d.mkdir()
        for fn, content in files.items():
            (d / fn.replace("_", ".")).write_bytes(content if isinstance(content, bytes) else content.encode())
        bad[name] = d

    cfg_ok = (tmp_path / good.id / "config.json").read_text()
    make("r-bytes", config_json=os.urandom(64))
    make("r-list", config_json="[1,2,3]")
    make("r-status", config_json=cfg_ok, status_json="[]")
    make("r-csv", config_json=cfg_ok, status_json='{"status": "done"}', results_csv=b"method,fold\n\xff,0\n")
    make("r-nomethods", config_json='{"dataset": "synthetic"}')
    make("r-methods5", config_json='{"dataset": "synthetic", "methods": 5}')
    make("r-events", config_json=cfg_ok, status_json='{"status": "done"}', events_jsonl=b'5\n\xff\xfe\n{"type":"epoch"}\n')
    make("r-statusjson", config_json=cfg_ok, status_json="{not json")
    return store, good.id, bad


def test_the_store_lists_damaged_runs_and_never_raises(tmp_path):
    store, good, bad = damaged_store(tmp_path)
    listed = {r["id"]: r for r in store.list()}
    assert listed[good]["damaged"] is None and listed[good]["status"] == "done"
    for name in ("r-bytes", "r-list", "r-status", "r-csv", "r-nomethods", "r-methods5", "r-statusjson"):
        assert listed[name]["damaged"] and listed[name]["status"] == "damaged", name
    reg = JobRegistry(store)
    for name in bad:
        v = reg.view(name)  # never raises
        assert v is None or v["status"] in ("damaged", "done", "unknown", "interrupted")
    assert store.events("r-events") == []  # a bare 5, undecodable bytes and an event without method: skipped
    store.delete("r-bytes")
    assert "r-bytes" not in {r["id"] for r in store.list()}


@pytest.mark.parametrize("page", ["pages/2_Train.py", "pages/5_Ablation.py", "pages/6_Compare.py"])
def test_pages_survive_damaged_runs(tmp_path, monkeypatch, page):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ILDL_RUNS_DIR", str(tmp_path))
    damaged_store(tmp_path)
    from pages._ui import common

    common.registry.clear()
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    if page == "pages/2_Train.py":
        for name in ("r-nomethods", "r-methods5", "r-events", "r-statusjson", "r-csv"):
            at2 = AppTest.from_file(str(ROOT / page), default_timeout=60)
            at2.query_params["run"] = name
            at2.run()
            assert not at2.exception, (name, [e.value for e in at2.exception])
    common.registry.clear()


def test_runs_dir_that_is_a_file_is_reported(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    f = tmp_path / "runs"
    f.write_text("not a folder")
    monkeypatch.setenv("ILDL_RUNS_DIR", str(f))
    from pages._ui import common

    common.registry.clear()
    at = AppTest.from_file(str(ROOT / "pages/2_Train.py"), default_timeout=60).run()
    assert not at.exception and any("is a file" in e.value for e in at.error)
    assert at.button(key="train_start").disabled
    common.registry.clear()


def test_a_killed_server_leaves_runs_interrupted_with_their_progress(tmp_path):
    store = RunStore(tmp_path)
    run_id, w = store.create(dict(dataset="synthetic", methods=["ldl-kl"]), total_epochs=500)
    w.status("running", pid=999_999_999, total_epochs=500)  # a pid that does not exist: the process was killed
    for e in range(423):
        w.event(dict(type="epoch", method="ldl-kl", fold=0, epoch=e + 1, step=e, best=False))
    w.close()
    reg = JobRegistry(store)  # a restart
    assert reg.recovered == [run_id]
    st = store.status(run_id)
    assert st["status"] == "interrupted" and st["epochs_done"] == 423 and "423 epochs" in st["error"]
    v = reg.view(run_id)
    assert v["status"] == "interrupted" and v["progress"] == pytest.approx(423 / 500)
    assert {r["id"]: r["status"] for r in store.list()}[run_id] == "interrupted"


def test_a_run_of_a_live_process_is_left_running(tmp_path):
    store = RunStore(tmp_path)
    run_id, w = store.create(dict(dataset="synthetic", methods=["ldl-kl"]))
    w.status("running", pid=os.getppid())  # alive, and not this process: e.g. a CLI run in another terminal
    w.close()
    assert JobRegistry(store).recovered == [] and store.status(run_id)["status"] == "running"


# --------------------------------------------------------------------------- values that poison results
@pytest.mark.parametrize("method,key", [("ofr-fl", "gamma"), ("dildl", "alpha"), ("amema", "ema"), ("ldl-kl", "lr")])
def test_nan_parameters_are_refused(tmp_path, capsys, method, key):
    err = cli_error(capsys, ["run", "--dataset", "synthetic", "--method", method, "--set", f"{key}=nan",
                             "--out", str(tmp_path / "o.csv")])
    assert "finite" in err


def test_nan_and_fractional_thresholds_are_refused(tmp_path, capsys):
    assert "finite" in cli_error(capsys, ["run", "--dataset", "synthetic", "--method", "uniform", "--thresholds",
                                          "nan,nan,0,0", "--out", str(tmp_path / "o.csv")])
    assert "whole numbers" in cli_error(capsys, ["run", "--dataset", "synthetic", "--method", "uniform",
                                                 "--thresholds", "1,2,2.7,0", "--out", str(tmp_path / "o.csv")])


def test_complex_features_are_refused():
    buf = io.BytesIO()
    np.savez(buf, features=np.ones((5, 2)) + 1j, labels=np.full((5, 2), 0.5))
    with pytest.raises(D.DataError, match="complex"):
        D.load_bytes(buf.getvalue(), "c.npz")


@pytest.mark.parametrize("qp,field", [({"p_lr": "nan"}, "p_lr"), ({"task": "dir", "p_beta": "nan"}, "p_beta"),
                                      ({"syn_dominance": "nan"}, None), ({"thresholds": "nan,nan,0,0"}, None)])
def test_nan_in_the_url_is_ignored_with_a_message(qp, field):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages/2_Train.py"), default_timeout=60)
    for k, v in qp.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    if field:
        assert any(f"Ignoring {field}" in w.value for w in at.warning)
    s = at.session_state["app"]
    assert all(np.isfinite(v) for v in s["syn"].values() if isinstance(v, float)) and s.get("thresholds") is None


@pytest.mark.parametrize("argv,expect", [
    (["run", "--dataset", "synthetic", "--method", "ldl-kl", "--folds", "0"], "folds"),
    (["run", "--dataset", "synthetic", "--method", "ldl-kl", "--only-folds", "99"], "fold id"),
    (["run", "--dataset", "synthetic", "--method", "ldl-kl", "--only-folds", "-1"], "fold id"),
    (["run", "--dataset", "synthetic", "--method", ","], "no method"),
    (["run", "--task", "lt", "--dataset", "digits-lt", "--method", "ce", "--seeds", "0"], "folds"),
    (["run", "--task", "dir", "--dataset", "synthetic-dir", "--method", "mse", "--only-folds", "99"], "fold id"),
    (["ablate", "--study", "amema", "--dataset", "synthetic", "--only-folds", "99"], "fold id"),
])
def test_cli_arguments_are_checked_before_any_work(tmp_path, capsys, argv, expect):
    assert expect in cli_error(capsys, [*argv, "--out", str(tmp_path / "o.csv")])


def test_an_unwritable_out_is_reported_before_training(tmp_path, capsys):
    t0 = time.time()  # /proc takes no new files, not even from root; Movie × RDA would train for minutes
    err = cli_error(capsys, ["run", "--dataset", "Movie", "--method", "rda", "--out", "/proc/ildl-out.csv"])
    assert "not writable" in err and time.time() - t0 < 30
    assert "folder" in cli_error(capsys, ["run", "--dataset", "synthetic", "--method", "uniform",
                                          "--events", str(tmp_path / "nope" / "e.jsonl"), "--out", str(tmp_path / "o.csv")])


def test_a_job_for_a_fold_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="fold id"):
        runner.resolve(dict(dataset="synthetic", methods=["ldl-kl"], fold_ids=[99]))


# ---------------------------------------------------------------------------------------------- visitors
def test_only_the_owner_may_stop_or_delete(tmp_path):
    reg = JobRegistry(RunStore(tmp_path), open_control=False)
    job = reg.submit(dict(dataset="synthetic", dataset_kw=dict(n=200, d=8), methods=["ldl-kl"], fold_ids=[0],
                          settings={"ldl-kl": {"epochs": 3000}}), owner="alice")
    while job.epochs_done < 1:
        time.sleep(0.01)
    assert not reg.may_control(job.id, "bob") and not reg.stop(job.id, "bob") and job.running
    assert reg.stop(job.id, "alice") and job.join(2.0)
    assert not reg.delete(job.id, "bob") and reg.delete(job.id, "alice")
    lecturer = JobRegistry(RunStore(tmp_path), open_control=True)
    assert lecturer.may_control("any-run", "bob")
