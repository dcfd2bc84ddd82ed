"""Background jobs: a training run in a worker thread that writes events to a thread-safe log.

The worker never touches any UI. A page (or a notebook) polls `job.log`; stopping is cooperative
(`job.request_stop()` sets an Event the trainer checks between batches); every event also goes to
the run directory (`ildl.runs`), so a refresh or a restart loses nothing.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from . import data as D
from . import selection as S
from .runs import RunStore, RunWriter
from .trainer import method_config, run_experiment
from .methods import parse

RUN_DEFAULTS: dict[str, Any] = dict(dataset="synthetic", dataset_kw={}, protocol="ildl", folds=10, fold_ids=[0],
                                    seed=0, thresholds=None, methods=["ldl-kl"], settings={}, device="auto",
                                    scaling="minmax", study=None, chunk_folds=2, task="ldl", groups=10,
                                    imbalance=100.0, test_priors=["uniform"], seeds=1, select=None, diagnostic=False)


def resolve_run_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and resolve every method's parameters, so the saved config says everything."""
    unknown = set(cfg) - set(RUN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown run option(s) {sorted(unknown)}")
    out = {**RUN_DEFAULTS, **cfg}
    out["select"] = S.parse(out["select"])
    out["diagnostic"] = bool(out["diagnostic"])
    if out["task"] in ("dir", "lt") and not out["study"]:  # the other two tasks: their own methods and declared parameters
        from . import groupdir, longtail
        from .config import resolve

        mod = groupdir if out["task"] == "dir" else longtail
        bad = [m for m in out["methods"] if m not in mod.METHODS]
        if bad:
            raise ValueError(f"unknown {out['task']} method(s) {bad} ({', '.join(mod.METHODS)})")
        given = out.get("settings") or {}
        out["settings"] = {m: resolve(mod.PARAMS, given.get(m)) for m in out["methods"]}
        if out["task"] == "dir" and out["dataset"] == "synthetic-dir":
            from .regression import SYNTHETIC_DIR_PARAMS

            out["dataset_kw"] = resolve(SYNTHETIC_DIR_PARAMS, out["dataset_kw"])
        if out["task"] == "dir" and out["folds"] == 10 and "folds" not in cfg:
            out["folds"] = 5
        return out
    if out["study"]:  # a study trains its own method over its grid; settings = overrides shared by the grid
        from .studies import get, study_configs

        st = get(out["study"])
        out["methods"] = [st.method]
        out["task"] = st.task
        given = out.get("settings") or {}
        out["settings"] = {st.method: dict(given.get(st.method, {}))}
        out["configs"] = study_configs(st, out["settings"][st.method])  # type-checks now
        if st.task != "ldl" and out["folds"] == 10 and "folds" not in cfg:
            out["folds"] = 5 if st.task == "dir" else 3
        if out["dataset"] == "synthetic":
            out["dataset_kw"] = {**D.SYNTHETIC_DEFAULTS, **(out["dataset_kw"] or {})}
        return out
    out["methods"] = [parse(m).name for m in out["methods"]]
    given = out.get("settings") or {}
    out["settings"] = {m: method_config(parse(m), given.get(m, given.get(parse(m).base))) for m in out["methods"]}
    if out["dataset"] == "synthetic":
        out["dataset_kw"] = {**D.SYNTHETIC_DEFAULTS, **(out["dataset_kw"] or {})}
    return out


class EventLog:
    """Lock-protected event store. Step events are thinned (every other one dropped) past `max_steps`
    so that a long run keeps bounded memory; epoch/fold events are all kept."""

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


class Job:
    def __init__(self, config: dict[str, Any], dataset: D.Dataset | None = None, store: RunStore | None = None):
        self.config = resolve_run_config(config)
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
            import numpy as np

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

    def _on_fold(self, out: dict[str, Any]) -> None:
        self.rows.extend(out.get("rows", [out["row"]]))
        self._writer.results(self.rows)
        if "test_idx" in out:  # label-distribution predictions (what the Decoupling and Compare pages read)
            self._writer.predictions(out["row"].get("config") or out["row"]["method"], out["row"]["fold"],
                                     out["test_idx"], out["pred"])

    def _run_study(self, c: dict[str, Any], n_folds: int) -> None:
        from .studies import get, load_for, run_study, total_epochs

        ds = self.dataset if self.dataset is not None else load_for(c["study"], c["dataset"], **(c["dataset_kw"] or {}))
        self.total_epochs = total_epochs(get(c["study"]), c["configs"], n_folds) or 1
        run_study(c["study"], ds, protocol=c["protocol"], folds=c["folds"], seed=c["seed"], thresholds=c["thresholds"],
                  fold_ids=c["fold_ids"], overrides=c["settings"][c["methods"][0]], chunk_folds=c["chunk_folds"],
                  device=c["device"], emit=self._emit, stop=self.stop_event, on_fold=self._on_fold,
                  scaling=c["scaling"], select=c["select"][0])

    def _run_dir(self, c: dict[str, Any], n_folds: int) -> None:
        from . import groupdir

        ds = self.dataset if self.dataset is not None else groupdir.load_dir(c["dataset"], **c["dataset_kw"])
        self.total_epochs = n_folds * sum(c["settings"][m]["epochs"] for m in c["methods"]) or 1
        for m in c["methods"]:
            groupdir.run(ds, [m], n_groups=c["groups"], folds=c["folds"], seed=c["seed"], settings=c["settings"][m],
                         device="cuda" if c["device"] == "cuda" else "cpu", emit=self._emit, stop=self.stop_event,
                         fold_ids=c["fold_ids"], on_fold=self._on_fold)

    def _run_lt(self, c: dict[str, Any]) -> None:
        from . import longtail

        self.total_epochs = c["seeds"] * sum(c["settings"][m]["epochs"] for m in c["methods"]) or 1
        for m in c["methods"]:
            longtail.run(c["dataset"], [m], imbalance=c["imbalance"], test_priors=c["test_priors"], seeds=c["seeds"],
                         settings=c["settings"][m], emit=self._emit, stop=self.stop_event, on_row=self._on_fold)

    def _run(self) -> None:
        c = self.config
        self.started = time.time()
        self.status = "running"
        w: RunWriter = self._writer
        w.status("running", created=self.created, started=self.started)
        final, error = "failed", None
        try:
            n_folds = len(c["fold_ids"]) if c["fold_ids"] is not None else c["folds"]
            if c["study"]:
                self._run_study(c, n_folds)
            elif c["task"] == "dir":
                self._run_dir(c, n_folds)
            elif c["task"] == "lt":
                self._run_lt(c)
            else:
                ds = self.dataset if self.dataset is not None else D.load(c["dataset"], **(c["dataset_kw"] or {}))
                self.total_epochs = n_folds * sum(c["settings"][m].get("epochs", 0) for m in c["methods"]) or 1
                run_experiment(ds, c["methods"], protocol=c["protocol"], folds=c["folds"], seed=c["seed"],
                               thresholds=c["thresholds"], settings=c["settings"], device=c["device"],
                               emit=self._emit, stop=self.stop_event, scaling=c["scaling"], fold_ids=c["fold_ids"],
                               on_fold=self._on_fold, select=c["select"], diagnostic=c["diagnostic"])
            final = "stopped" if self.stop_event.is_set() else "done"
        except Exception as e:  # the app must stay usable: record the failure, never raise into the UI
            error = f"{type(e).__name__}: {e}"
            (w.path / "traceback.txt").write_text(traceback.format_exc(), encoding="utf-8")
        finally:
            self.finished = time.time()
            w.results(self.rows)
            w.status(final, error=error, created=self.created, started=self.started, finished=self.finished)
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
        return dict(id=run_id, live=False, status=status, error=st.get("error"), config=cfg,
                    steps=[e for e in evs if e.get("type") == "step"],
                    events=[e for e in evs if e.get("type") != "step"], rows=self.store.rows(run_id),
                    progress=1.0 if status == "done" else 0.0, eta=None)
