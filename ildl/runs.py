"""Runs on disk: every job (app or CLI) writes its resolved config, its events and its results, so nothing is
lost to a browser refresh or an app restart.

runs/<run_id>/
  config.json    the resolved config (task, dataset, methods, every parameter)
  events.jsonl   one event per line, appended as training goes (step events thinned past a cap)
  results.csv    one row per (method, fold[, test prior], rule)
  status.json    status, error, timestamps, owner, pid, progress
  pred/          test predictions per (method or configuration, fold)

Reading never raises on what it finds: a file of the wrong type, a cut or garbled line, bytes that are not
UTF-8 — the run is listed as *damaged* with the reason (and can still be deleted), damaged lines are skipped.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import events as E
from .config import DEFAULT_TASK, TIME_COLUMNS
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


RESULT_COLUMNS = ("method", "fold", "test_prior", "select", *METRICS)  # the lead of a run's results.csv
STUDY_COLUMNS = ("study", "config")


def rows_to_csv(rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV text of result rows in `columns` order (default: study/config, method, fold, rule, the label-distribution
    metrics, then any other key, the time columns last). NaN is written as an empty cell."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    if columns is None:
        lead = [c for c in STUDY_COLUMNS if c in keys]
        main = [c for c in RESULT_COLUMNS if c in keys or not rows]
        times = [c for c in TIME_COLUMNS if c in keys or (not rows and c == "seconds")]
        rest = [k for k in keys if k not in (*lead, *main, *times)]
        columns = [*lead, *main, *rest, *times]
    cols = columns
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(cols)), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if isinstance(v, float) and v != v else v for k, v in r.items()})
    return buf.getvalue()


def write_status(run_dir: Path, status: str, **info: Any) -> None:
    """status.json replaced atomically (a reader sees the old file or the new one, never half of one)."""
    tmp = run_dir / "status.json.tmp"
    tmp.write_text(dumps({"status": status, "updated": time.time(), **info}), encoding="utf-8")
    tmp.replace(run_dir / "status.json")


class RunWriter:
    """Appends events as they come (called from the worker thread only). Step events of a model are written in
    full up to `max_steps`; past that every 2nd, then every 4th … so a long run stays a bounded file."""

    def __init__(self, path: Path, max_steps: int = 20000):
        self.path = path
        self._fh = open(path / "events.jsonl", "a", encoding="utf-8")
        self._lock = threading.Lock()
        self.max_steps = max_steps
        self._seen: dict[tuple, int] = {}  # (method, fold, config) → step events seen
        self.steps_written = 0

    def _keep(self, ev: dict[str, Any]) -> bool:
        key = (ev.get("method"), ev.get("fold"), ev.get("config"))
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        stride = 1 << max(0, (n // self.max_steps).bit_length()) if n >= self.max_steps else 1
        return n % stride == 0

    def event(self, ev: dict[str, Any]) -> None:
        with self._lock:
            if ev.get("type") == "step":
                if not self._keep(ev):
                    return
                self.steps_written += 1
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
        write_status(self.path, status, **info)

    def close(self) -> None:
        with self._lock:
            self._fh.close()


# What a reader takes from a run's folder at most (a view never needs more; the downloads read the whole file).
CAPS = {"config.json": 1 << 20, "status.json": 1 << 20, "results.csv": 32 << 20, "events.jsonl": 16 << 20,
        "npz": 64 << 20}


def read_capped(path: Path, cap: int, tail: bool = False) -> bytes:
    """A regular file's bytes, at most `cap` (the last `cap` with `tail`): never follows a link, never opens a
    FIFO, a device or a socket (which could block a reader forever or never end), never reads past the cap.
    OSError when the file is not a plain file, ValueError when it is larger than the cap and not a tail."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path.name} is not a plain file")
    if st.st_size > cap and not tail:
        raise ValueError(f"{path.name} is larger than {cap >> 20} MB")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if st.st_size > cap:
            fh.seek(st.st_size - cap)
            fh.readline()  # start at a whole line
        return fh.read(cap)


class RunStore:
    """The runs directory. Every reader tolerates whatever it finds on disk, and reads only plain files within
    the caps above (a FIFO, a link to /dev/zero or a 300 MB event log cannot block or exhaust the server)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def problem(self) -> str | None:
        """Why runs cannot be kept here (None when they can)."""
        if self.root.exists() and not self.root.is_dir():
            return f"the runs folder {self.root} is a file, not a folder (check ILDL_RUNS_DIR)"
        return None

    def create(self, config: dict[str, Any], run_id: str | None = None, **status: Any) -> tuple[str, RunWriter]:
        if self.problem():
            raise OSError(self.problem())
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        path = self.root / run_id
        path.mkdir(parents=True, exist_ok=False)
        (path / "config.json").write_text(json.dumps(config, indent=2, default=_json_default), encoding="utf-8")
        w = RunWriter(path)
        w.status("queued", **{"created": time.time(), "pid": os.getpid(), **status})
        return run_id, w

    def ids(self) -> list[str]:
        if self.problem() or not self.root.exists():
            return []
        try:
            return sorted((p.name for p in self.root.iterdir() if p.is_dir() or p.is_symlink()), reverse=True)
        except OSError:
            return []

    def list(self) -> list[dict[str, Any]]:
        """Newest first: id, status, headline fields of the config, and `damaged` (a reason, or None)."""
        out = []
        for run_id in self.ids():
            cfg, problem = self._config(run_id)
            st = self.status(run_id)
            if problem is None and "status" not in st and (self.path(run_id) / "status.json").exists():
                problem = "status.json is unreadable"
            if problem is None:
                problem = self._rows(run_id)[1]
            cfg = cfg or {}
            out.append(dict(id=run_id, status="damaged" if problem else st.get("status", "unknown"),
                            task=cfg.get("task", DEFAULT_TASK), dataset=cfg.get("dataset"), methods=cfg.get("methods"),
                            study=cfg.get("study"), created=st.get("created"), error=st.get("error"),
                            owner=st.get("owner"), damaged=problem, config=cfg))
        return out

    def path(self, run_id: str) -> Path:
        """The run's entry in the runs folder (a name, never a path elsewhere; not resolved, so a link stays a link)."""
        if not isinstance(run_id, str) or not run_id or run_id in (".", "..") or "/" in run_id or "\\" in run_id \
                or "\0" in run_id:
            raise ValueError(f"bad run id {run_id!r}")
        return self.root / run_id

    def _dir(self, run_id: str) -> Path:
        """The run's folder for reading: a link in its place is damage, not a run (OSError)."""
        p = self.path(run_id)
        if p.is_symlink():
            raise OSError(f"{run_id} is a link, not a run folder")
        return p

    def _read(self, run_id: str, name: str) -> tuple[Any, str | None]:
        try:
            text = read_capped(self._dir(run_id) / name, CAPS[name]).decode("utf-8")
        except FileNotFoundError:
            return None, f"{name} is missing"
        except (OSError, UnicodeDecodeError, ValueError) as e:
            return None, f"{name} is unreadable ({e if isinstance(e, (OSError, ValueError)) else type(e).__name__})"
        try:
            return json.loads(text), None
        except json.JSONDecodeError:
            return None, f"{name} is not JSON"

    def _config(self, run_id: str) -> tuple[dict[str, Any] | None, str | None]:
        cfg, problem = self._read(run_id, "config.json")
        if problem:
            return None, problem
        if not isinstance(cfg, dict):
            return None, "config.json is not an object"
        methods = cfg.get("methods")
        if not (isinstance(methods, list) and methods and all(isinstance(m, str) for m in methods)):
            return None, "config.json has no list of methods"
        if not isinstance(cfg.get("dataset"), str):
            return None, "config.json names no dataset"
        return cfg, None

    def config(self, run_id: str) -> dict[str, Any]:
        """The run's config; ValueError (with the reason) when it is damaged or missing."""
        cfg, problem = self._config(run_id)
        if problem:
            raise ValueError(f"run {run_id}: {problem}")
        return cfg

    def status(self, run_id: str) -> dict[str, Any]:
        """status.json as a dict ({} when missing or damaged)."""
        st, _ = self._read(run_id, "status.json")
        return st if isinstance(st, dict) and isinstance(st.get("status", ""), str) else {}

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The readable events of the log's last CAPS['events.jsonl'] bytes (a view's bounded tail; `events_path`
        is the whole log, for downloads); a line cut by a crash, garbled bytes or a non-event is skipped."""
        try:
            raw = read_capped(self._dir(run_id) / "events.jsonl", CAPS["events.jsonl"], tail=True)
        except (OSError, ValueError):
            return []
        out = []
        for line in raw.splitlines():
            try:
                ev = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if E.valid(ev):
                out.append(ev)
        return out

    def results_csv(self, run_id: str) -> str:
        try:
            return read_capped(self._dir(run_id) / "results.csv", CAPS["results.csv"]).decode("utf-8")
        except (OSError, UnicodeDecodeError, ValueError):
            return ""

    def _pred_arrays(self, run_id: str, a: str, b: str) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
        """(method or configuration, fold) → (arrays `a`, `b`) from pred/<key>__f<fold>.npz, no pickles; a file
        that is damaged or lacks them is skipped (it costs its view, not the page)."""
        out = {}
        try:
            d = self._dir(run_id) / "pred"
            files = sorted(d.glob("*.npz")) if d.is_dir() and not d.is_symlink() else []
        except (OSError, ValueError):
            return out
        for p in files:
            key, _, fold = p.stem.rpartition("__f")
            try:
                with np.load(io.BytesIO(read_capped(p, CAPS["npz"])), allow_pickle=False) as z:
                    if a in z.files and b in z.files:
                        out[(key, int(fold))] = (z[a], z[b])
            except Exception:  # noqa: BLE001 — anything a damaged file raises
                continue
        return out

    def predictions(self, run_id: str) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
        """(method or configuration, fold) → (test indices (n,), predictions (n, …))."""
        return {k: (idx, pred) for k, (idx, pred) in self._pred_arrays(run_id, "idx", "pred").items()
                if idx.ndim == 1 and len(idx) == len(pred)}

    def groups(self, run_id: str) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
        """(configuration, fold) → (predicted groups, true groups) of an imbalanced-regression run."""
        return self._pred_arrays(run_id, "g_pred", "g_true")

    def _rows(self, run_id: str) -> tuple[list[dict[str, Any]], str | None]:
        try:
            raw = read_capped(self._dir(run_id) / "results.csv", CAPS["results.csv"])
        except FileNotFoundError:
            return [], None
        except (OSError, ValueError):
            return [], "results.csv is unreadable"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return [], "results.csv is not UTF-8 text"
        if not text.strip():
            return [], None
        out = []
        try:
            for r in csv.DictReader(io.StringIO(text)):
                row: dict[str, Any] = {}
                for k, v in r.items():
                    if k is None:
                        return [], "results.csv has ragged rows"
                    if k in ("method", "config", "study", "test_prior", "settings", "select"):
                        row[k] = v
                    elif k == "fold":
                        row[k] = int(v)
                    else:
                        try:
                            row[k] = float(v)
                        except (TypeError, ValueError):
                            row[k] = float("nan") if v in ("", None) else v
                if not isinstance(row.get("method"), str) or "fold" not in row:
                    return [], "results.csv lacks method / fold columns"
                out.append(row)
        except (ValueError, csv.Error):
            return [], "results.csv is malformed"
        return out, None

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows(run_id)[0]

    def delete(self, run_id: str) -> None:
        p = self.path(run_id)
        if p.is_symlink() or p.is_file():  # a link (or a stray file) in the runs folder: remove it, not its target
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)

    def recover(self, alive: Any = None) -> list[str]:
        """Runs left 'queued' / 'running' by a process that no longer exists (a crash, `kill -9`, a restart)
        become 'interrupted', with the progress they reached. A run whose writer still lives is left alone
        (a CLI run in another terminal). Returns the ids changed."""
        alive = alive or _pid_alive
        changed = []
        for run_id in self.ids():
            st = self.status(run_id)
            if st.get("status") not in ("queued", "running"):
                continue
            pid = st.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and alive(pid):
                continue
            evs = self.events(run_id)
            done = sum(e["type"] == "epoch" for e in evs)
            total = st.get("total_epochs") if isinstance(st.get("total_epochs"), int) else 0
            info = {k: v for k, v in st.items() if k not in ("status", "updated")}
            info.update(epochs_done=done, total_epochs=total or done, error=f"interrupted after {done} epochs "
                        "(the process that ran it ended)", finished=time.time())
            try:
                write_status(self.path(run_id), "interrupted", **info)
                changed.append(run_id)
            except OSError:
                continue
        return changed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
