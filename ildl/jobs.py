"""Background jobs: a run in a worker thread that writes events to a thread-safe log and to its run directory.

The worker never touches any UI. A page (or a notebook) polls `job.log`; stopping is cooperative
(`job.request_stop()` sets an Event the engine checks between batches); every event also goes to the run
directory (`ildl.runs`), so a refresh or a restart loses nothing. The CLI writes the same run directories.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Any

import numpy as np

from . import data as D
from . import events as E
from . import runner
from .engine import Result
from .runs import RunStore, RunWriter


class EventLog:
    """Lock-protected event store. Step events are thinned (every other one dropped) past `max_steps`
    so that a long run keeps bounded memory; the other events are all kept."""

    def __init__(self, max_steps: int = 20000):
        self._lock = threading.Lock()
        self._steps: list[dict] = []
        self._other: list[dict] = []
        self.max_steps = max_steps
        self.version = 0

    def append(self, ev: dict[str, Any]) -> None:
        with self._lock:
            if ev.get("type") == "step":
                self._steps.append(ev)
                if len(self._steps) > self.max_steps:
                    self._steps = self._steps[::2]
            else:
                self._other.append(ev)
            self.version += 1

    def snapshot(self) -> tuple[list[dict], list[dict]]:
        """(step events, all other events), copies safe to read while the worker appends."""
        with self._lock:
            return list(self._steps), list(self._other)


def save_result(writer: RunWriter, res: Result) -> None:
    """A finished model's test predictions (what the Decoupling and Compare pages read)."""
    if res.pred is None or res.stopped:
        return
    tag = res.job.tag
    idx = res.job.fold.ctx.get("test_idx")
    if idx is None:
        return
    extra = {}
    if "groups" in res.extra:
        extra = dict(g_pred=np.asarray(res.extra["groups"][0]), g_true=np.asarray(res.extra["groups"][1]))
    writer.predictions(tag.get("config") or tag["method"], tag["fold"], idx, res.pred, **extra)


class Job:
    def __init__(self, config: dict[str, Any], dataset: D.Dataset | None = None, store: RunStore | None = None):
        self.config = runner.resolve(config)
        self.dataset = dataset  # an uploaded dataset; else loaded from config in the worker
        self.store = store or RunStore()
        self.log = EventLog()
        self.stop_event = threading.Event()
        self.status = "queued"
        self.error: str | None = None
        self.rows: list[dict[str, Any]] = []
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.epochs_done = 0
        self.total_epochs = 1
        self.id, self._writer = self.store.create(self.config)
        if dataset is not None:  # an upload: keep its arrays with the run so the run can be reproduced
            np.savez_compressed(self._writer.path / "dataset.npz", features=dataset.X, labels=dataset.Y)
        self.thread = threading.Thread(target=self._run, name=f"ildl-job-{self.id}", daemon=True)

    # -- control ---------------------------------------------------------------------
    def start(self) -> "Job":
        self.thread.start()
        return self

    def request_stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def running(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def progress(self) -> float:
        return min(1.0, self.epochs_done / max(self.total_epochs, 1))

    @property
    def eta_seconds(self) -> float | None:
        if not self.started or self.epochs_done == 0 or not self.running:
            return None
        el = time.time() - self.started
        return el / self.epochs_done * (self.total_epochs - self.epochs_done)

    # -- worker ----------------------------------------------------------------------
    def _emit(self, ev: dict[str, Any]) -> None:
        ev["t"] = round(time.time() - (self.started or time.time()), 4)
        if ev["type"] == "epoch":
            self.epochs_done += 1
        self.log.append(ev)
        self._writer.event(ev)

    def _on_result(self, res: Result) -> None:
        if res.stopped:
            return
        self.rows.extend(res.rows)
        self._writer.results(self.rows)
        save_result(self._writer, res)

    def _run(self) -> None:
        c = self.config
        self.started = time.time()
        self.status = "running"
        w: RunWriter = self._writer
        w.status("running", created=self.created, started=self.started)
        final, error = "failed", None
        try:
            data = self.dataset if self.dataset is not None else runner.load_data(c)
            task, jobs = runner.plan(c, data)
            self.total_epochs = sum(j.cfg["epochs"] for j in jobs if not j.spec.constant) or 1
            runner.execute(c, task, jobs, emit=self._emit, stop=self.stop_event, on_result=self._on_result)
            final = "stopped" if self.stop_event.is_set() else "done"
        except Exception as e:  # the app must stay usable: record the failure, never raise into the UI
            error = f"{type(e).__name__}: {e}"
            (w.path / "traceback.txt").write_text(traceback.format_exc(), encoding="utf-8")
        finally:
            self.finished = time.time()
            w.results(self.rows)
            end = E.end(final, error)
            self.log.append(end)
            w.event(end)
            w.status(final, error=error, created=self.created, started=self.started, finished=self.finished,
                     epochs_done=self.epochs_done, total_epochs=self.total_epochs)
            w.close()
            # last: whoever waits on `status` finds the files complete
            self.error, self.status = error, final


class JobRegistry:
    """All jobs of a process, by id (the app keeps one of these in `st.cache_resource`). Finished jobs past the
    newest `keep_finished` leave memory; their runs stay on disk and `view` reads them from there."""

    def __init__(self, store: RunStore | None = None, keep_finished: int = 20):
        self.store = store or RunStore()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.keep_finished = keep_finished

    def submit(self, config: dict[str, Any], dataset: D.Dataset | None = None) -> Job:
        job = Job(config, dataset=dataset, store=self.store)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if not j.running]
            for old in finished[:max(0, len(finished) - self.keep_finished)]:
                del self._jobs[old.id]
        return job.start()

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def view(self, run_id: str) -> dict[str, Any] | None:
        """Everything a page draws for a run, live from memory when the job is here, else from disk."""
        job = self.get(run_id)
        if job is not None:
            steps, other = job.log.snapshot()
            return dict(id=job.id, live=True, status=job.status, error=job.error, config=job.config, steps=steps,
                        events=other, rows=list(job.rows), progress=job.progress, eta=job.eta_seconds)
        try:
            cfg = self.store.config(run_id)
        except (OSError, ValueError):
            return None
        st = self.store.status(run_id)
        status = st.get("status", "unknown")
        if status in ("queued", "running"):  # on disk as running but no thread here: the app was restarted
            status = "interrupted"
        evs = self.store.events(run_id)
        total = st.get("total_epochs") or 0
        done = st.get("epochs_done") or sum(e.get("type") == "epoch" for e in evs)
        return dict(id=run_id, live=False, status=status, error=st.get("error"), config=cfg,
                    steps=[e for e in evs if e.get("type") == "step"],
                    events=[e for e in evs if e.get("type") != "step"], rows=self.store.rows(run_id),
                    progress=1.0 if status == "done" else (min(1.0, done / total) if total else 0.0), eta=None)
