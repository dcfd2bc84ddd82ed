"""One run's lifecycle, the same for the app's background jobs and for the CLI.

    s = RunSession(store, config, owner=…, total_epochs=…)   # runs/<id>/ with config.json, status 'queued'
    s.execute(task, plan, stop=…)                          # 'running' (pid, started) → events → results → end

`execute` never raises (except KeyboardInterrupt, which is recorded as 'stopped' first): the outcome is
`s.status` / `s.error`, and `s.exception` keeps what was raised for a caller that wants it (the CLI). Every write
of the ending may fail on its own (a full disk); none of them may stop the others or leave the status unset.
The status file always carries owner, pid, created, started and the progress, so a reader in another process
tells a live run (its pid exists) from one a crash left behind (`RunStore.recover`).
"""
from __future__ import annotations

import errno
import os
import threading
import time
import traceback
from typing import Any, Callable, Sequence

import numpy as np

from . import events as E
from . import runner
from .engine import Result
from .runs import RunStore, RunWriter

Sink = Callable[[dict[str, Any]], None]


def save_predictions(writer: RunWriter, res: Result) -> None:
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


def disk_error(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return ("OSError: no space left on the device that holds the runs folder — this run could not be saved; "
                "free some space (or delete old runs) and start it again")
    return f"OSError: {e.strerror or e}"


def _quietly(fn: Callable[[], Any]) -> OSError | None:
    """Run a write; return its OSError instead of raising (a full disk must not stop the rest of the ending)."""
    try:
        fn()
    except OSError as e:
        return e
    return None


class RunSession:
    """A run from creation to its final status. `store=None` keeps nothing on disk (`--no-save`); `sinks` get
    every event too (the app's in-memory log, the CLI's progress bar and `--events` file)."""

    def __init__(self, store: RunStore | None, config: dict[str, Any], *, owner: str | None, total_epochs: int,
                 estimate: str | None = None, sinks: Sequence[Sink] = (), dataset: Any = None):
        self.config = config
        self.owner = owner
        self.total_epochs = max(int(total_epochs), 1)
        self.estimate = estimate
        self.sinks = list(sinks)
        self.status = "queued"
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.rows: list[dict[str, Any]] = []
        self.epochs_done = 0
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.id: str | None = None
        self._writer: RunWriter | None = None
        if store is not None:
            self.id, self._writer = store.create(config, **self._life())
            if dataset is not None:  # an upload: keep its arrays with the run so the run can be reproduced
                np.savez_compressed(self._writer.path / "dataset.npz", features=dataset.X, labels=dataset.Y)

    def _life(self) -> dict[str, Any]:
        """What every status write carries: who, which process, when, how far."""
        return dict(owner=self.owner, pid=os.getpid(), created=self.created, started=self.started,
                    epochs_done=self.epochs_done, total_epochs=self.total_epochs,
                    **({"estimate": self.estimate} if self.estimate else {}))

    # -- the worker's side ---------------------------------------------------------------
    def event(self, ev: dict[str, Any]) -> None:
        ev["t"] = round(time.time() - (self.started or time.time()), 4)
        if ev["type"] == "epoch":
            self.epochs_done += 1
        for sink in self.sinks:
            sink(ev)
        if self._writer is not None:
            self._writer.event(ev)

    def result(self, res: Result) -> None:
        if res.stopped:
            return
        self.rows.extend(res.rows)
        if self._writer is not None:
            self._writer.results(self.rows)
            save_predictions(self._writer, res)

    def begin(self) -> None:
        self.started = time.time()
        self.status = "running"
        if self._writer is not None:
            self._writer.status("running", **self._life())

    def execute(self, task: Any, plan: list, *, stop: threading.Event | None = None) -> str:
        """Train `plan` (from `runner.plan(config, …)`) and end the run; returns the final status."""
        final, error = "failed", None
        try:
            self.begin()
            runner.execute(self.config, task, plan, emit=self.event, stop=stop, on_result=self.result)
            final = "stopped" if stop is not None and stop.is_set() else "done"
        except KeyboardInterrupt as e:
            final, self.exception = "stopped", e
            self.end(final, None)
            raise
        except MemoryError as e:
            error, self.exception = "MemoryError: the run needed more memory than this machine has", e
        except OSError as e:  # most often a full disk while writing events or predictions
            error, self.exception = disk_error(e), e
        except Exception as e:  # noqa: BLE001 — the app must stay usable: record the failure, never raise into it
            error, self.exception = f"{type(e).__name__}: {e}", e
            if self._writer is not None:
                tb = traceback.format_exc()
                _quietly(lambda: (self._writer.path / "traceback.txt").write_text(tb, encoding="utf-8"))
        return self.end(final, error)

    def end(self, final: str, error: str | None = None) -> str:
        """Results, the end event, the final status (keeping owner, pid, created, started), close. A write that
        fails turns a clean ending into 'failed' with the disk's reason; the status in memory is set regardless."""
        self.finished = time.time()
        end = dict(E.end(final, error), t=round(self.finished - (self.started or self.finished), 4))
        for sink in self.sinks:
            sink(end)
        failed: list[OSError] = []
        w = self._writer
        if w is not None:
            failed = [e for e in (_quietly(lambda: w.results(self.rows)), _quietly(lambda: w.event(end)),
                                  _quietly(lambda: w.status(final, error=error, finished=self.finished,
                                                            **self._life())),
                                  _quietly(w.close)) if e is not None]
        if failed and error is None:
            final, error = "failed", disk_error(failed[0]) + " (while saving the finished run)"
        self.error, self.status = error, final
        return final
