"""Issue 19: a class server nothing can wedge — one test per failure found (each failed before its fix)."""
from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
import scipy.io as sio

from conftest import ROOT
from ildl import data as D
from ildl.jobs import BudgetError, JobRegistry, plan_and_check
from ildl.runs import RunStore, RunWriter

SMALL = dict(dataset="synthetic", dataset_kw=dict(n=200, d=8), methods=["ldl-kl"], fold_ids=[0])


def _wait(pred, t=60.0):
    t0 = time.time()
    while not pred() and time.time() - t0 < t:
        time.sleep(0.02)
    return pred()


def test_a_full_disk_fails_the_run_and_frees_the_slot(tmp_path, monkeypatch):
    """Visitor A's long run meets a full disk; B's short run, queued behind it, still finishes."""
    reg = JobRegistry(RunStore(tmp_path), max_running=1)
    real_event, real_results = RunWriter.event, RunWriter.results

    def disk(real):
        def write(self, *a):
            if getattr(self, "full", False):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, *a)
        return write

    monkeypatch.setattr(RunWriter, "event", disk(real_event))
    monkeypatch.setattr(RunWriter, "results", disk(real_results))
    a = reg.submit(dict(SMALL, settings={"ldl-kl": {"epochs": 3000}}), owner="A")
    b = reg.submit(dict(SMALL, settings={"ldl-kl": {"epochs": 5}}), owner="B")
    assert _wait(lambda: a.epochs_done > 2) and b.status == "queued"
    a.session._writer.full = True  # the disk fills under A (and A's cleanup writes fail too)
    assert a.join(30) and a.status == "failed" and "no space left" in a.error.lower()
    assert b.join(30) and b.status == "done"  # A's slot was freed


def test_budget_counts_group_dir_activations_and_a_time_limit(monkeypatch):
    """The contrastive loss keeps O(B²) per model (bench/contrastive_memory.py: 1.1 GB at B = 4096): the largest
    batch fits the default limit, and the estimate still grows with B² and refuses what is over the limit."""
    big = dict(task="dir", dataset="synthetic-dir", methods=["group-soft"], fold_ids=[0],
               settings={"group-soft": {"batch_size": 4096}})
    est = plan_and_check(big)[4]
    small = plan_and_check(dict(big, settings={"group-soft": {"batch_size": 1024}}))[4]
    assert 1.0 * 2**30 < est.memory < 4 * 2**30 and est.memory - small.memory > 10 * 2**20 * 15
    monkeypatch.setenv("ILDL_JOB_MEMORY_GB", "1")
    with pytest.raises(BudgetError, match="activations"):
        plan_and_check(big)
    monkeypatch.delenv("ILDL_JOB_MEMORY_GB")
    with pytest.raises(BudgetError, match="ILDL_JOB_SECONDS"):
        plan_and_check(dict(SMALL, settings={"ldl-kl": {"epochs": 5000}}, pace=1.0))
    plan_and_check(dict(task="dir", dataset="synthetic-dir", methods=["group-soft"], fold_ids=[0]))  # default fits


def test_per_visitor_limit(tmp_path):
    reg = JobRegistry(RunStore(tmp_path), max_running=1)
    slow = dict(SMALL, settings={"ldl-kl": {"epochs": 3000}})
    jobs = [reg.submit(slow, owner="A") for _ in range(2)]
    with pytest.raises(BudgetError, match="per visitor"):
        reg.submit(slow, owner="A")
    other = reg.submit(dict(SMALL, settings={"ldl-kl": {"epochs": 2}}), owner="B")  # someone else still may
    for j in jobs:
        j.request_stop()
    assert all(j.join(10) for j in jobs) and other.join(30) and other.status == "done"


def _npz(members: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, arr in members.items():
            m = io.BytesIO()
            np.save(m, arr)
            z.writestr(name, m.getvalue())
    return buf.getvalue()


def test_upload_limits_cannot_be_dodged(monkeypatch):
    monkeypatch.setattr(D, "MAX_ELEMENTS", 10_000)
    big = _npz({"features": np.zeros((20_000,), np.float32), "labels.npy": np.full((10, 2), 0.5)})  # no .npy
    with pytest.raises(D.DataError, match="once decompressed"):
        D.load_bytes(big, "x.npz")
    b = io.BytesIO()
    sio.savemat(b, {"features": np.zeros((10, 3)), "labels": np.full((10, 2), 0.5),
                    "hidden": np.array([np.zeros((200, 200))], dtype=object)})
    with pytest.raises(D.DataError, match="cell"):
        D.load_bytes(b.getvalue(), "x.mat")
    csv_cr = b"a,label_0,label_1\r" + b"1,0.5,0.5\r" * 5000  # old-Mac line ends: 15 000 values
    with pytest.raises(D.DataError, match="once decompressed"):
        D.load_bytes(csv_cr, "x.csv")
    ok = D.load_bytes(b"a,label_0,label_1\r\n" + b"1,0.5,0.5\r\n" * 20, "ok.csv")
    assert ok.n == 20


def _run(store: RunStore) -> str:
    rid, w = store.create({"methods": ["uniform"], "dataset": "synthetic"})
    w.status("done")
    w.close()
    return rid


def test_special_files_never_block_or_over_read(tmp_path):
    store = RunStore(tmp_path)
    fifo, zero, big = _run(store), _run(store), _run(store)
    (tmp_path / fifo / "status.json").unlink()
    os.mkfifo(tmp_path / fifo / "status.json")
    (tmp_path / zero / "status.json").unlink()
    os.symlink("/dev/zero", tmp_path / zero / "status.json")
    line = json.dumps(dict(type="epoch", method="m", fold=0, epoch=1, step=1, t=0.0)) + "\n"
    with open(tmp_path / big / "events.jsonl", "w") as fh:
        fh.write(line * (20 * 2**20 // len(line)))  # 20 MB, over the view's 16 MB tail
    done = threading.Event()
    out = {}

    def read():
        out["list"] = store.list()
        out["events"] = store.events(big)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(20), "a reader blocked on a FIFO or read /dev/zero"
    damaged = {r["id"]: r["damaged"] for r in out["list"]}
    assert damaged[fifo] and damaged[zero] and not damaged[big]
    assert 0 < len(out["events"]) < 20 * 2**20 // len(line)  # a bounded tail


def test_a_symlinked_damaged_run_can_be_deleted(tmp_path):
    store = RunStore(tmp_path / "runs")
    (tmp_path / "runs").mkdir()
    target = _run(RunStore(tmp_path / "elsewhere"))
    os.symlink(tmp_path / "elsewhere" / target, tmp_path / "runs" / "linked")
    row = next(r for r in store.list() if r["id"] == "linked")
    assert "link" in row["damaged"]
    reg = JobRegistry(store)
    assert reg.delete("linked", None)
    assert not (tmp_path / "runs" / "linked").exists() and (tmp_path / "elsewhere" / target).exists()


def test_cli_runs_belong_to_cli_and_stay_running_for_a_new_app(tmp_path, monkeypatch):
    monkeypatch.setenv("ILDL_RUNS_DIR", str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "ildl", "run", "--dataset", "synthetic", "--method", "ldl-kl",
                             "--epochs", "4000", "--folds", "5", "--only-folds", "0", "--out",
                             str(tmp_path / "r.csv"), "--quiet"], cwd=ROOT, env=dict(os.environ))
    try:
        store = RunStore(tmp_path)
        assert _wait(lambda: any(r["status"] == "running" for r in store.list()), 60)
        rid = next(r["id"] for r in store.list() if r["status"] == "running")
        st = store.status(rid)
        assert st["pid"] == proc.pid and st["owner"] == "cli" and st.get("created") and st.get("started")
        reg = JobRegistry(store)  # an app starting while the CLI trains
        assert rid not in reg.recovered and store.status(rid)["status"] == "running"
        assert not reg.may_control(rid, "a visitor") and not reg.delete(rid, "a visitor")
        assert JobRegistry(store, open_control=True).may_control(rid, "a visitor")
    finally:
        proc.terminate()
        proc.wait(30)


def test_bad_thresholds_in_the_url_are_ignored():
    from streamlit.testing.v1 import AppTest

    for page in ("pages/1_Data.py", "pages/2_Train.py", "pages/3_Decoupling.py", "pages/6_Compare.py"):
        at = AppTest.from_file(str(ROOT / page), default_timeout=60)
        at.query_params["thresholds"] = "1,2,99,0"
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert any("Ignoring the thresholds" in w.value for w in at.warning), page
        assert "thresholds" not in at.query_params


@pytest.mark.parametrize("argv, words", [
    (["--out", "/dev/full"], "not a regular file"),
    (["--out", ""], "give a file name"),
    (["--out", "OUT", "--events", "/dev/full"], "not a regular file"),
    (["--out", "OUT", "--task", "lt", "--dataset", "synthetic-lt", "--method", "ce", "--test-prior", "nan,1,1,1,1,1,1,1,1,1"],
     "non-negative numbers"),
    (["--out", "OUT", "--folds", "2.5"], "invalid int value"),
])
def test_cli_checks_every_argument_first(tmp_path, capsys, argv, words):
    from ildl.cli import main

    argv = [a.replace("OUT", str(tmp_path / "r.csv")) for a in argv]
    base = ["run", "--dataset", "synthetic", "--method", "ldl-kl", "--epochs", "2", "--no-save", "--quiet"]
    if "--dataset" in argv:
        base = ["run", "--epochs", "2", "--no-save", "--quiet"]
    t0 = time.time()
    with pytest.raises(SystemExit) if "--folds" in argv else _nothing():
        rc = main(base + argv)
        assert rc == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert time.time() - t0 < 20


def test_cli_events_fifo_is_refused_not_waited_on(tmp_path, capsys):
    from ildl.cli import main

    os.mkfifo(tmp_path / "ev")
    rc = main(["run", "--dataset", "synthetic", "--method", "uniform", "--no-save", "--quiet",
               "--out", str(tmp_path / "r.csv"), "--events", str(tmp_path / "ev")])
    assert rc == 2 and "not a regular file" in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_interpreter_exits_cleanly_with_a_job_training(tmp_path):
    code = ("import os, time; os.environ['ILDL_RUNS_DIR'] = %r\n"
            "from ildl.jobs import JobRegistry\n"
            "r = JobRegistry(); j = r.submit(dict(dataset='synthetic', methods=['amema'], fold_ids=[0],"
            " settings={'amema': {'epochs': 5000}}))\n"
            "while j.epochs_done < 2: time.sleep(0.05)\n" % str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "terminate called" not in p.stderr
    st = RunStore(tmp_path).list()[0]
    assert st["status"] == "stopped"


def test_soft_labels_button_is_disabled_while_its_job_runs():
    """Five clicks made five identical jobs: the button is disabled while its job is queued or running."""
    from streamlit.testing.v1 import AppTest

    from pages._ui.common import registry

    at = AppTest.from_file(str(ROOT / "pages/4_Soft_labels.py"), default_timeout=60)
    at.run()
    at.radio(key="soft_src").set_value("synthetic skewed regression").run()
    at.button(key="soft_train").click().run()
    (run_id,) = at.session_state["soft_runs"].values()
    job = registry().get(run_id)
    assert not at.exception
    if job.running:
        assert at.button(key="soft_train").disabled
        at.button(key="soft_train").click().run() if not at.button(key="soft_train").disabled else None
        assert list(at.session_state["soft_runs"].values()) == [run_id]
    job.request_stop()
    job.join(30)
    at.run()
    assert not at.button(key="soft_train").disabled


def test_label_shift_stops_the_draw_a_visitor_left():
    """Every seed change submitted a job and the old ones kept training: now the superseded draw is stopped."""
    from streamlit.testing.v1 import AppTest

    from pages._ui.common import registry

    at = AppTest.from_file(str(ROOT / "pages/7_Label_shift.py"), default_timeout=60)
    at.run()
    first = list(at.session_state["shift_runs"].values())
    seed = next(w for w in at.number_input if w.key and "seed" in w.key)
    seed.set_value(int(seed.value) + 1).run()
    ids = list(at.session_state["shift_runs"].values())
    assert len(ids) == 2 and ids[0] == first[0]
    old, new = registry().get(ids[0]), registry().get(ids[1])
    assert old.join(30) and old.status in ("stopped", "done")
    new.request_stop()
    new.join(30)
