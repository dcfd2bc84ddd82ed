"""Runs on disk: every job writes its resolved config, its events and its results, so nothing is lost
to a browser refresh or an app restart.

runs/<run_id>/
  config.json    the resolved config (dataset, protocol, methods, every parameter)
  events.jsonl   one event per line, appended as training goes
  results.csv    one row per (method, fold)
  status.json    status, error, timestamps
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import METRICS


def default_root() -> Path:
    return Path(os.environ.get("ILDL_RUNS_DIR", "runs"))


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def dumps(o: Any) -> str:
    return json.dumps(o, default=_json_default)


RESULT_COLUMNS = ("method", "fold", "test_prior", "select", *METRICS, "seconds")
STUDY_COLUMNS = ("study", "config")


def rows_to_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """CSV text of result rows in `columns` order (default: study/config, method, fold, rule, the label-distribution
    metrics, then any other key, seconds last). NaN is written as an empty cell."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    if columns is None:
        lead = [c for c in STUDY_COLUMNS if c in keys]
        main = [c for c in RESULT_COLUMNS if c != "seconds" and (c in keys or not rows)]
        rest = [k for k in keys if k not in main and k not in lead and k != "seconds"]
        columns = [*lead, *main, *rest, *(["seconds"] if "seconds" in keys or not rows else [])]
    cols = columns
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(cols)), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if isinstance(v, float) and v != v else v for k, v in r.items()})
    return buf.getvalue()


class RunWriter:
    """Appends events as they come (called from the worker thread only)."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = open(path / "events.jsonl", "a", encoding="utf-8")
        self._lock = threading.Lock()

    def event(self, ev: dict[str, Any]) -> None:
        with self._lock:
            self._fh.write(dumps(ev) + "\n")
            if ev.get("type") != "step":  # flush at epoch granularity: cheap, and a crash loses < 1 epoch
                self._fh.flush()

    def predictions(self, method: str, fold: int, test_idx: np.ndarray, pred: np.ndarray, **extra: np.ndarray) -> None:
        """Test-fold predictions of one (method, fold): what the Decoupling and Compare pages show (dir runs add
        the predicted and true groups)."""
        d = self.path / "pred"
        d.mkdir(exist_ok=True)
        np.savez_compressed(d / f"{method}__f{fold}.npz", idx=np.asarray(test_idx), pred=np.asarray(pred, np.float32),
                            **{k: np.asarray(v) for k, v in extra.items()})

    def results(self, rows: list[dict[str, Any]]) -> None:
        (self.path / "results.csv").write_text(rows_to_csv(rows), encoding="utf-8")

    def status(self, status: str, **info: Any) -> None:
        info = {"status": status, "updated": time.time(), **info}
        tmp = self.path / "status.json.tmp"
        tmp.write_text(dumps(info), encoding="utf-8")
        tmp.replace(self.path / "status.json")

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class RunStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def create(self, config: dict[str, Any], run_id: str | None = None) -> tuple[str, RunWriter]:
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        path = self.root / run_id
        path.mkdir(parents=True, exist_ok=False)
        (path / "config.json").write_text(json.dumps(config, indent=2, default=_json_default), encoding="utf-8")
        w = RunWriter(path)
        w.status("queued", created=time.time())
        return run_id, w

    def list(self) -> list[dict[str, Any]]:
        """Newest first: id, status and the config's headline fields."""
        out = []
        if not self.root.exists():
            return out
        for p in sorted(self.root.iterdir(), reverse=True):
            if not (p / "config.json").exists():
                continue
            try:
                cfg = json.loads((p / "config.json").read_text())
                st = json.loads((p / "status.json").read_text()) if (p / "status.json").exists() else {}
            except (OSError, json.JSONDecodeError):
                continue
            out.append(dict(id=p.name, status=st.get("status", "unknown"), dataset=cfg.get("dataset"),
                            methods=cfg.get("methods"), study=cfg.get("study"), created=st.get("created"),
                            error=st.get("error")))
        return out

    def path(self, run_id: str) -> Path:
        p = (self.root / run_id).resolve()
        if p.parent != self.root.resolve():
            raise ValueError(f"bad run id {run_id!r}")
        return p

    def config(self, run_id: str) -> dict[str, Any]:
        return json.loads((self.path(run_id) / "config.json").read_text())

    def status(self, run_id: str) -> dict[str, Any]:
        p = self.path(run_id) / "status.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def events(self, run_id: str) -> list[dict[str, Any]]:
        p = self.path(run_id) / "events.jsonl"
        out = []
        if p.exists():
            for line in p.read_text(encoding="utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a crash
                    pass
        return out

    def results_csv(self, run_id: str) -> str:
        p = self.path(run_id) / "results.csv"
        return p.read_text(encoding="utf-8") if p.exists() else ""

    def predictions(self, run_id: str) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
        """(method, fold) → (test indices (n,), predictions (n, C))."""
        out = {}
        d = self.path(run_id) / "pred"
        for p in sorted(d.glob("*.npz")) if d.exists() else []:
            method, _, fold = p.stem.rpartition("__f")
            with np.load(p, allow_pickle=False) as z:
                out[(method, int(fold))] = (z["idx"], z["pred"])
        return out

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        text = self.results_csv(run_id)
        if not text.strip():
            return []
        out = []
        for r in csv.DictReader(io.StringIO(text)):
            row: dict[str, Any] = {}
            for k, v in r.items():
                if k in ("method", "config", "study", "test_prior", "settings", "select"):
                    row[k] = v
                elif k in ("fold", "seed") and v not in (None, ""):
                    row[k] = int(v)
                else:
                    try:
                        row[k] = float(v)
                    except (TypeError, ValueError):
                        row[k] = float("nan") if v == "" else v
            out.append(row)

        return out

    def delete(self, run_id: str) -> None:
        shutil.rmtree(self.path(run_id), ignore_errors=True)
