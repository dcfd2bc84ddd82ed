"""The one event schema. Every event is a plain JSON-serialisable dict with `type`, `method` and `fold`
(seeds are the folds of the seeds protocol; a study adds `study` and `config`); run-level events carry
method '*' and fold -1.

  start     a model begins: config, n_train / n_val / n_test, device, stack (models trained together), select,
            diagnostic, watch_true (the watched test samples' targets, label-distribution tasks)
  step      epoch, step and the method's loss terms (AMEMA: loss_s, loss_ns, ema_s, … mu_ns)
  epoch     epoch, step, the validation record (val_kl, val_kl_balanced, val_chebyshev …), best (primary rule)
  diag      epoch, step, test metrics — a diagnostic, never used for selection (note says so)
  snapshot  epoch, predictions for the watched test samples (the replay)
  fold      the model's result: metrics (primary rule), rows (every rule / test prior), best_epochs, seconds,
            stopped (a stopped model reports no rows)
  end       the run: status, error
The app, the CLI (`--events`), persistence and the tests consume the same stream.
"""
from __future__ import annotations

from typing import Any

REQUIRED: dict[str, tuple[str, ...]] = {
    "start": ("config", "n_train", "n_val", "n_test", "device", "stack", "select", "diagnostic"),
    "step": ("epoch", "step"),
    "epoch": ("epoch", "step", "best"),
    "diag": ("epoch", "step", "note"),
    "snapshot": ("epoch", "pred"),
    "fold": ("metrics", "rows", "best_epochs", "seconds", "stopped"),
    "end": ("status",),
}
TYPES = tuple(REQUIRED)
DIAG_NOTE = "diagnostic: test metrics, never used for selection"


def make(type: str, tag: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An event of `type` for the model `tag` ({method, fold[, study, config]}), checked against the schema."""
    if type not in REQUIRED:
        raise ValueError(f"unknown event type {type!r}")
    ev = {"type": type, **tag, **fields}
    missing = [k for k in ("method", "fold", *REQUIRED[type]) if k not in ev]
    if missing:
        raise ValueError(f"{type} event lacks {missing}")
    return ev


def end(status: str, error: str | None = None) -> dict[str, Any]:
    return make("end", dict(method="*", fold=-1), status=status, error=error)


def valid(ev: Any) -> bool:
    """Whether a value read back from disk is an event this schema knows (a damaged line is not)."""
    return (isinstance(ev, dict) and ev.get("type") in REQUIRED and isinstance(ev.get("method"), str)
            and isinstance(ev.get("fold"), int) and not isinstance(ev.get("fold"), bool))
