"""Background jobs: a run in a worker thread that writes events to a thread-safe log and to its run directory.

The worker never touches any UI. A page (or a notebook) polls `job.log`; stopping is cooperative
(`job.request_stop()` sets an Event the engine checks between batches); every event also goes to the run
directory (`ildl.runs`), so a refresh or a restart loses nothing. The CLI writes the same run directories.

A shared server: at most `max_running` jobs train at once (the rest wait, 'queued', in order); a job's cost is
estimated before it is accepted (`ildl.budget`); a job belongs to the browser that started it — others may watch,
not stop or delete it, unless the server opens control (ILDL_OPEN_CONTROL=1, e.g. for a lecturer).
"""
from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from typing import Any

from . import budget, runner
from . import data as D
from .runs import RunStore
from .session import RunSession


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


_ALL_JOBS: "weakref.WeakSet[Job]" = weakref.WeakSet()  # every job of this process, for a clean exit


def stop_all(timeout: float = 10.0) -> int:
    """Stop every running job of this process and wait for their threads (an interpreter that exits while a
    worker is inside torch can abort); returns how many were still running."""
    live = [j for j in list(_ALL_JOBS) if j.thread.is_alive()]
    for j in live:
        j.request_stop()
    for j in live:
        j.join(timeout)
    return len(live)


# At interpreter exit (Streamlit stopped by SIGTERM / Ctrl-C, a test run ending) every worker is asked to stop and
# joined *before* finalisation: a daemon thread killed inside torch aborts the interpreter ("terminate called
# without an active exception"), and its run would stay 'running' on disk.
atexit.register(stop_all)


class BudgetError(ValueError):
    """A run refused before it starts: it would cost more than this server allows (the message says what)."""


def default_max_running() -> int:
    """Jobs that train at once: one per four cores (each job's torch uses several), at least one; ILDL_MAX_JOBS."""
    env = os.environ.get("ILDL_MAX_JOBS")
    return max(1, int(env)) if env and env.isdigit() else max(1, (os.cpu_count() or 2) // 4)


def plan_and_check(config: dict[str, Any], dataset: Any = None) -> tuple[dict, Any, Any, list, budget.Estimate]:
    """Resolve a config, load its data, plan its jobs and check the cost — all before anything trains."""
    cfg = runner.resolve(config)
    data = dataset if dataset is not None else runner.load_data(cfg)
    task, jobs = runner.plan(cfg, data)
    if not jobs:
        raise ValueError("nothing to run: no (method, fold) chosen")
    est = budget.estimate(jobs, cfg["device"], cfg["pace"])
    problems = est.problems()
    if problems:
        raise BudgetError("This run is too large for this server: " + "; ".join(problems)
                          + f" (estimate: {est.text()}). Use fewer epochs, folds or samples, a smaller network or "
                          "a faster pace; for memory also a smaller batch.")
    return cfg, data, task, jobs, est


class Job:
    """A run in a worker thread: checked and created at once (a `RunSession` on disk, 'queued'), trained when a
    slot is free. Pages poll `log`, `status`, `rows`, `progress`."""

    def __init__(self, config: dict[str, Any], dataset: D.Dataset | None = None, store: RunStore | None = None,
                 owner: str | None = None, slots: threading.Semaphore | None = None):
        self.config, self.data, self.task, self.plan, self.estimate = plan_and_check(config, dataset)
        self.owner = owner
        self._slots = slots
        self.store = store or RunStore()
        self.log = EventLog()
        self.stop_event = threading.Event()
        total = sum(j.cfg["epochs"] for j in self.plan if not j.spec.constant) or 1
        self.session = RunSession(self.store, self.config, owner=owner, total_epochs=total,
                                  estimate=self.estimate.text(), sinks=[self.log.append], dataset=dataset)
        self.id: str = self.session.id  # type: ignore[assignment]
        self.thread = threading.Thread(target=self._run, name=f"ildl-job-{self.id}", daemon=True)
        _ALL_JOBS.add(self)

    # -- what pages read -----------------------------------------------------------------
    status = property(lambda self: self.session.status)
    error = property(lambda self: self.session.error)
    rows = property(lambda self: self.session.rows)
    created = property(lambda self: self.session.created)
    started = property(lambda self: self.session.started)
    finished = property(lambda self: self.session.finished)
    epochs_done = property(lambda self: self.session.epochs_done)
    total_epochs = property(lambda self: self.session.total_epochs)

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
    def _wait_for_slot(self) -> bool:
        """Block until this job may train (False: stopped while queued)."""
        if self._slots is None:
            return True
        while not self._slots.acquire(timeout=0.1):
            if self.stop_event.is_set():
                return False
        return True

    def _run(self) -> None:
        slot = False
        try:
            slot = self._wait_for_slot()
            if not slot:
                self.session.end("stopped")  # stopped while queued: it never trained
                return
            self.session.execute(self.task, self.plan, stop=self.stop_event)
        finally:
            self.plan = []  # the folds' arrays: a finished job keeps only its rows and events
            self.data = None
            # the session has written its files and set its status: only now may the next job take the slot
            if slot and self._slots is not None:
                self._slots.release()


class JobRegistry:
    """All jobs of a process, by id (the app keeps one of these in `st.cache_resource`). Finished jobs past the
    newest `keep_finished` leave memory; their runs stay on disk and `view` reads them from there."""

    def __init__(self, store: RunStore | None = None, keep_finished: int = 20, max_running: int | None = None,
                 open_control: bool | None = None):
        self.store = store or RunStore()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.keep_finished = keep_finished
        self.max_running = max_running or default_max_running()
        self._slots = threading.Semaphore(self.max_running)
        self.open_control = (os.environ.get("ILDL_OPEN_CONTROL") == "1") if open_control is None else open_control
        env = os.environ.get("ILDL_MAX_PER_VISITOR", "")
        self.per_visitor = max(1, int(env)) if env.isdigit() else 2
        self.recovered = self.store.recover() if not self.store.problem() else []  # runs a crash left 'running'

    def submit(self, config: dict[str, Any], dataset: D.Dataset | None = None, owner: str | None = None) -> Job:
        """Check (config, data, budget, the visitor's own queue), create the run and queue the job; raises
        ValueError / BudgetError. A visitor (an `owner`) may have at most `per_visitor` jobs queued or running."""
        if owner is not None:
            with self._lock:
                mine = sum(1 for j in self._jobs.values() if j.owner == owner and j.running)
            if mine >= self.per_visitor:
                raise BudgetError(f"you already have {mine} run{'s' if mine != 1 else ''} queued or running (the limit "
                                  f"per visitor is {self.per_visitor}, ILDL_MAX_PER_VISITOR): wait for one to finish "
                                  "or stop it")
        job = Job(config, dataset=dataset, store=self.store, owner=owner, slots=self._slots)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if not j.running]
            for old in finished[:max(0, len(finished) - self.keep_finished)]:
                del self._jobs[old.id]
        return job.start()

    def owner_of(self, run_id: str) -> str | None:
        job = self.get(run_id)
        return job.owner if job is not None else self.store.status(run_id).get("owner")

    def may_control(self, run_id: str, owner: str | None) -> bool:
        """Stop / delete: the browser that started the run (or anyone when the server opens control). Runs made
        with the CLI belong to "cli" (a lecturer's prepared runs): read-only to every visitor. A run without a
        readable owner may be deleted only when it is damaged (nobody can use it)."""
        if self.open_control:
            return True
        who = self.owner_of(run_id)
        if who is None:
            return self.get(run_id) is None and self._damaged(run_id)
        return owner is not None and who == owner

    def _damaged(self, run_id: str) -> bool:
        try:
            self.store.config(run_id)
        except (OSError, ValueError):
            return True
        return not self.store.status(run_id)

    def stop(self, run_id: str, owner: str | None) -> bool:
        job = self.get(run_id)
        if job is None or not self.may_control(run_id, owner):
            return False
        job.request_stop()
        return True

    def delete(self, run_id: str, owner: str | None) -> bool:
        job = self.get(run_id)
        if (job is not None and job.running) or not self.may_control(run_id, owner):
            return False
        with self._lock:
            self._jobs.pop(run_id, None)
        self.store.delete(run_id)
        return True

    def queue_position(self, job: Job) -> int:
        """How many jobs wait before this one (0: running or next)."""
        with self._lock:
            waiting = [j for j in self._jobs.values() if j.status == "queued" and j.started is None]
        return waiting.index(job) if job in waiting else 0

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
                        events=other, rows=list(job.rows), progress=job.progress, eta=job.eta_seconds,
                        started=job.started)
        try:
            cfg = self.store.config(run_id)
        except (OSError, ValueError) as e:
            return dict(id=run_id, live=False, status="damaged", error=str(e), config=None, steps=[], events=[],
                        rows=[], progress=0.0, eta=None) if self._exists(run_id) else None
        st = self.store.status(run_id)
        status = st.get("status", "unknown")
        if status in ("queued", "running"):  # on disk as running but no thread here: the app was restarted
            status = "interrupted"
        evs = self.store.events(run_id)
        total = st.get("total_epochs") if isinstance(st.get("total_epochs"), int) else 0
        done = st.get("epochs_done") if isinstance(st.get("epochs_done"), int) else sum(e["type"] == "epoch" for e in evs)
        return dict(id=run_id, live=False, status=status, error=st.get("error") if isinstance(st.get("error"), str) else None,
                    config=cfg,
                    steps=[e for e in evs if e.get("type") == "step"],
                    events=[e for e in evs if e.get("type") != "step"], rows=self.store.rows(run_id),
                    progress=1.0 if status == "done" else (min(1.0, done / total) if total else 0.0), eta=None,
                    started=st.get("started") if isinstance(st.get("started"), (int, float)) else None)

    def _exists(self, run_id: str) -> bool:
        try:
            return self.store.path(run_id).is_dir()
        except ValueError:
            return False
