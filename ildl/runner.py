"""Run configs: one dict says everything about a run (task, data, methods and their resolved parameters, folds,
seed, device, selection rule, study); `resolve` checks and completes it before any work, `run` executes it
through the one engine. Background jobs, the CLI and notebooks all go through here.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from . import data as D
from . import engine, studies
from . import selection as S
from .config import resolve as resolve_params
from .device import resolve as resolve_device  # noqa: F401 (also used by benches)
from .methods import parse
from .tasks import DEFAULT, TASKS, Task, get

RUN_DEFAULTS: dict[str, Any] = dict(
    task=DEFAULT, dataset=None, dataset_kw={}, methods=None, settings={}, folds=None, fold_ids=None, seed=0,
    device="auto", select=None, diagnostic=False, thresholds=None, test_priors=["uniform"], pc_target=None,
    study=None, chunk_folds=None, batched=True, step_events=True, pace=0.0, val_seed=None, references=None)
MAX_PACE = 10.0  # seconds per epoch: a classroom slows a run down, it does not park a server slot for days
MAX_SEED = 2**31 - 1


def _int(name: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise ValueError(f"{name} must be a whole number, got {v!r}")
    v = int(v)
    if v < lo or (hi is not None and v > hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi if hi is not None else '∞'}], got {v}")
    return v


def _references(refs, study, task) -> list[str]:
    """A label-distribution study's extra rows: trained methods (group words allowed, e.g. 'classic') with their
    own defaults beside the study's configurations, as the constant predictors are."""
    if not refs:
        return []
    if not task.constant_methods:
        raise ValueError(f"references (extra method rows) apply to label-distribution studies (tasks with constant "
                         f"predictors), not {task.name}")
    if isinstance(refs, str) or not isinstance(refs, (list, tuple)):
        raise ValueError(f"references must be a list of method names, got {refs!r}")
    specs = [parse(m, task.name) for m in task.expand([str(r) for r in refs])]
    return [s.name for s in specs if not s.constant and s.name not in study.configs]


def task_options(task: Task, cfg: dict[str, Any]) -> dict[str, Any]:
    return {p.name: cfg[p.name] for p in task.options}


def resolve(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults, type-check everything and resolve every method's parameters (the saved config is the
    whole truth about a run). Raises ValueError / DataError with a message a person can act on."""
    task_names = {p.name for t in TASKS.values() for p in t.options}
    unknown = set(cfg) - set(RUN_DEFAULTS) - task_names - {"configs"}
    if unknown:
        raise ValueError(f"unknown run option(s) {sorted(unknown)}")
    out = {**RUN_DEFAULTS, **{k: v for k, v in cfg.items() if k != "configs"}}
    study = studies.get(out["study"]) if out["study"] else None
    if study is not None:
        out["task"] = study.task
    task = get(out["task"])
    out.update(task.resolve_options(out))
    out["dataset"] = out["dataset"] or task.datasets[0]
    out["folds"] = _int("folds", out["folds"] if out["folds"] is not None else task.default_folds,
                        1 if task.fold_word == "seed" else 2, 100)
    if out["fold_ids"] is not None:
        ids = [_int(f"{task.fold_word} id", f, 0, out["folds"] - 1) for f in out["fold_ids"]]
        if not ids:
            raise ValueError(f"no {task.fold_word}s chosen")
        out["fold_ids"] = sorted(set(ids))
    out["seed"] = _int("seed", out["seed"], 0, MAX_SEED)
    if out["val_seed"] is not None:  # the validation split drawn with another seed on the same folds (the RDA code)
        out["val_seed"] = _int("val_seed", out["val_seed"], 0, MAX_SEED)
    out["chunk_folds"] = None if out["chunk_folds"] is None else _int("chunk_folds", out["chunk_folds"], 1, 100)
    resolve_device(out["device"])  # 'cuda' without a GPU fails here, not in the worker
    rules = S.parse(out["select"]) if out["select"] is not None else [S.DEFAULT]
    rules = [r if r in task.select_rules else None for r in rules]
    if None in rules:
        if out["select"] is not None and task.select_rules == ("last",):
            raise ValueError(f"task {task.name} has no validation data: its selection rule is 'last'")
        rules = [r for r in rules if r] or [task.select_rules[0]]
    out["select"] = (rules if task.several_rules else [task.select_rules[0]])[:1 if study is not None else None]
    out["diagnostic"] = bool(out["diagnostic"])
    try:
        out["pace"] = float(out["pace"] or 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"pace must be a number of seconds per epoch, got {out['pace']!r}") from None
    if not (0.0 <= out["pace"] <= MAX_PACE):
        raise ValueError(f"pace must lie in [0, {MAX_PACE:g}] seconds per epoch, got {out['pace']}")
    task.check_run(out)
    if out["thresholds"] is not None:
        out["thresholds"] = list(D.check_thresholds(out["thresholds"]))
    given = dict(out.get("settings") or {})
    if study is not None:
        out["methods"] = list(study.methods)
        out["configs"] = studies.configs(study, given)  # every grid point, type-checked now
        out["settings"] = {"*": dict(given.get("*", {}))} if "*" in given else {}
        out["references"] = _references(out.get("references"), study, task)
    else:
        if out.get("references"):
            raise ValueError("references (extra method rows beside a study's configurations) apply to studies only")
        out["references"] = []
        if not out["methods"]:
            raise ValueError("no method chosen")
        names = task.expand(list(out["methods"]))
        specs = [parse(m, task.name) for m in names]
        out["methods"] = [s.name for s in specs]
        out["settings"] = {s.name: s.config(given.get(s.name, given.get(s.base))) for s in specs if not s.constant}
    if out["dataset"] in task.dataset_params:  # a generator: its knobs are part of the run's truth
        out["dataset_kw"] = resolve_params(task.dataset_params[out["dataset"]], out["dataset_kw"] or {})
    return out


def load_data(cfg: dict[str, Any]) -> Any:
    return get(cfg["task"]).load(cfg["dataset"], **(cfg["dataset_kw"] or {}))


def plan(cfg: dict[str, Any], data: Any) -> tuple[Task, list[engine.ModelJob]]:
    """The jobs of a resolved run: methods × folds, or a study's grid × folds."""
    task = get(cfg["task"])
    if cfg["study"]:
        return task, studies.plan(studies.get(cfg["study"]), task, data, cfg)
    opts = task_options(task, cfg)
    folds = [f for f in task.folds(data, cfg, opts) if cfg["fold_ids"] is None or f.id in cfg["fold_ids"]]
    return task, engine.make_jobs(task, folds, task.dims(data, opts), cfg["methods"], cfg["settings"], cfg["seed"])


def execute(cfg: dict[str, Any], task: Task, jobs: list[engine.ModelJob], *, emit: engine.Emit = engine._noop,
            stop: threading.Event | None = None,
            on_result: Callable[[engine.Result], None] | None = None) -> list[engine.Result]:
    return engine.execute(task, jobs, device=resolve_device(cfg["device"]), emit=emit, stop=stop,
                          select=cfg["select"], diagnostic=cfg["diagnostic"], batched=cfg["batched"],
                          chunk_folds=cfg["chunk_folds"], step_events=cfg["step_events"], pace=cfg["pace"],
                          on_result=on_result)


def run(cfg: dict[str, Any], dataset: Any = None, *, emit: engine.Emit = engine._noop,
        stop: threading.Event | None = None, on_result: Callable[[engine.Result], None] | None = None,
        resolved: bool = False) -> list[dict[str, Any]]:
    """Execute a run config; every result row (constants first, then the trained models)."""
    cfg = cfg if resolved else resolve(cfg)
    task, jobs = plan(cfg, dataset if dataset is not None else load_data(cfg))
    return [row for r in execute(cfg, task, jobs, emit=emit, stop=stop, on_result=on_result) for row in r.rows]


def run_experiment(ds: D.Dataset, methods: Sequence[str], *, protocol: str = "ildl", folds: int = 10, seed: int = 0,
                   thresholds=None, settings: dict[str, dict[str, Any]] | None = None, device: str = "auto",
                   emit: engine.Emit = engine._noop, stop: threading.Event | None = None, scaling: str = "minmax",
                   fold_ids: Sequence[int] | None = None, select: str | Sequence[str] | None = None,
                   diagnostic: bool = False, batched: bool = True, pc_target=None) -> list[dict[str, Any]]:
    """Label-distribution learning from a notebook: every (method, fold, selection rule) as a result row."""
    return run(dict(task="ldl", dataset=ds.name, methods=list(methods), protocol=protocol, folds=folds, seed=seed,
                    thresholds=thresholds, settings=settings or {}, device=device, scaling=scaling,
                    fold_ids=list(fold_ids) if fold_ids is not None else None, select=select,
                    diagnostic=diagnostic, batched=batched, pc_target=pc_target), dataset=ds, emit=emit, stop=stop)
