"""Ablation studies: a grid of configurations × folds, as in the papers' tables, trained by the one engine —
every grid point of a study that shares shapes trains as one stacked computation.

Built in: `amema` (WEIG × MOME), `dildl` (DRDA × DLD), `rda` (its three alignment terms), `group-dir`
(criterion × |G|) and `lt` (method × test prior; folds are seeds). Rows carry `study`, `config`, `method` and
`fold`; the constant predictors of a label-distribution study are added as configurations of their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import engine
from . import metrics as Mx
from .methods import parse
from .tasks import Task
from .tasks import get as get_task


@dataclass(frozen=True)
class Study:
    name: str
    task: str
    method: str  # the configurations' method unless a configuration names its own
    full: str  # the configuration the paper proposes (the reference of the t-test marks)
    configs: dict[str, dict[str, Any]]  # name → overrides (parameters, task options, or 'method')
    title: str = ""
    published: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # dataset → config → metric
    run: dict[str, Any] = field(default_factory=dict)  # run-level settings the study fixes (lt: test priors)

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(ov.get("method", self.method) for ov in self.configs.values()))

    @property
    def metrics(self) -> tuple[str, ...]:
        return get_task(self.task).table_metrics


def _pub(vals: Sequence[float]) -> dict[str, float]:
    return dict(zip(Mx.SIX, vals))


STUDIES: dict[str, Study] = {s.name: s for s in (
    Study("amema", "ldl", "amema", "weig+mome",
          {"weig+mome": {}, "weig": {"mome": False}, "mome": {"weig": False}, "none": {"weig": False, "mome": False}},
          "AMEMA: EMA branch weights (WEIG) × adaptive branch momenta (MOME)",
          {"Movie": {"none": _pub([0.175, 0.768, 1.529, 0.221, 0.834, 0.729]),
                     "weig+mome": _pub([0.170, 0.689, 1.289, 0.192, 0.855, 0.748])}}),
    Study("dildl", "ldl", "dildl", "drda+dld",
          {"drda+dld": {}, "drda": {"dld": False}, "dld": {"drda": False}, "none": {"drda": False, "dld": False}},
          "DILDL: decoupled alignment (DRDA) × decoupled loss (DLD); 'none' is RDA",
          {"Movie": {"none": _pub([0.198, 0.802, 1.561, 0.254, 0.808, 0.703]),
                     "drda+dld": _pub([0.175, 0.768, 1.529, 0.221, 0.834, 0.729])}}),
    Study("rda", "ldl", "rda", "full",
          {"full": {}, "no-recover": {"w_recover": 0.0}, "no-target": {"w_target": 0.0}, "no-sim": {"w_sim": 0.0},
           "pred-only": {"w_recover": 0.0, "w_target": 0.0, "w_sim": 0.0}},
          "RDA: each alignment term switched off (pred-only = OFR-DB on RDA's network)"),
    Study("group-dir", "dir", "group-soft", "group-soft@G10",
          {f"{c}@G{G}": {"method": c, "groups": G} for G in (5, 10, 25) for c in ("group-ce", "group-la", "group-soft")},
          "Group-DIR: group criterion (CE / LA / soft labels) × number of groups |G|"),
    Study("lt", "lt", "lade", "lade", {m: {"method": m} for m in ("ce", "pc", "la", "balanced-softmax", "lade")},
          "Label shift: CE / PC / LA / balanced softmax / LADE × test prior (folds = seeds)",
          run={"test_priors": ["uniform", "forward50", "backward50"]}),
)}


def get(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study '{name}'; built in: {', '.join(STUDIES)}")
    return STUDIES[name]


def configs(st: Study, settings: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every grid point resolved: {config: {method, options (task options), settings (the method's whole config)}}.
    `settings` may hold overrides for every point ('*') or for one method ('amema')."""
    task = get_task(st.task)
    opt_names = {p.name for p in task.options}
    settings = settings or {}
    out = {}
    for c, ov in st.configs.items():
        spec = parse(ov.get("method", st.method), st.task)
        shared = {**settings.get("*", {}), **settings.get(spec.name, {})}
        params = {k: v for k, v in {**shared, **ov}.items() if k != "method" and k not in opt_names}
        out[c] = dict(method=spec.name, options={k: v for k, v in ov.items() if k in opt_names},
                      settings=spec.config(params))
    return out


def plan(st: Study, task: Task, data: Any, cfg: dict[str, Any]) -> list[engine.ModelJob]:
    """Jobs for every (configuration, fold), plus the constant predictors (label-distribution studies)."""
    run = {**cfg, **st.run}
    grid = cfg.get("configs") or configs(st, cfg.get("settings"))
    base_opts = {p.name: cfg[p.name] for p in task.options}
    folds_by_opts: dict[tuple, list] = {}
    jobs = []

    def folds_for(opts: dict[str, Any]):
        key = tuple(sorted(opts.items()))
        if key not in folds_by_opts:
            fs = task.folds(data, run, opts)
            folds_by_opts[key] = [f for f in fs if cfg["fold_ids"] is None or f.id in cfg["fold_ids"]]
        return folds_by_opts[key], task.dims(data, opts)

    if task.constant_methods:
        folds, dims = folds_for(base_opts)
        for c in (*task.constant_methods, *(cfg.get("references") or ())):  # reference rows: constants, then e.g. the classic
            jobs += engine.make_jobs(task, folds, dims, [c], {}, cfg["seed"], tag=dict(study=st.name, config=c))
    for c, g in grid.items():
        folds, dims = folds_for({**base_opts, **g["options"]})
        spec = parse(g["method"], task.name)
        for f in folds:
            jobs.append(engine.ModelJob(spec, g["settings"], f, engine.model_seed(cfg["seed"], f.id),
                                   dict(study=st.name, config=c, method=spec.name, fold=f.id), dims))
    return jobs


def comparison_config(dataset: str, dataset_kw: dict | None = None, *, epochs: int = 30, seed: int = 0) -> dict:
    """The run behind the Soft-labels page's comparison: the group-dir study on fold 0, `epochs` each."""
    return dict(study="group-dir", dataset=dataset, dataset_kw=dataset_kw or {}, fold_ids=[0], seed=seed,
                settings={"*": {"epochs": epochs}})


def group_comparison(rows: Sequence[dict[str, Any]], groups: dict[tuple[str, int], tuple], 
                     group_counts: Sequence[int] = (5, 10, 25)) -> dict[str, Any]:
    """From a group-dir study's rows and its (predicted, true) groups: {"acc": {criterion: {G: group accuracy}},
    "dist": {criterion: {G: |predicted − true group| per test sample}}} (the paper's Fig. 5)."""
    acc: dict[str, dict[int, float]] = {}
    dist: dict[str, dict[int, np.ndarray]] = {}
    for r in rows:
        crit, _, g = str(r.get("config", "")).partition("@G")
        if g.isdigit() and int(g) in group_counts:
            acc.setdefault(crit, {})[int(g)] = float(r["group_acc"])
    for (config, _fold), (g_pred, g_true) in groups.items():
        crit, _, g = config.partition("@G")
        if g.isdigit() and int(g) in group_counts:
            dist.setdefault(crit, {})[int(g)] = np.abs(np.asarray(g_pred) - np.asarray(g_true))
    return {"acc": acc, "dist": dist}


def mistakes_sentence(dist: dict[str, dict[int, np.ndarray]], G: int) -> str:
    """What the |predicted − true group| histograms say, from their numbers: the share of the mistakes that land
    one group away, per criterion, and whether soft labels keep mistakes closer than CE."""
    near = {}
    for crit, by_g in dist.items():
        d = by_g.get(G)
        if d is None or not (d > 0).any():
            continue
        near[crit] = float((d == 1).sum() / (d > 0).sum())
    if not near:
        return f"No mistakes to compare at |G| = {G}."
    parts = ", ".join(f"{c.replace('group-', '')} {v:.0%}" for c, v in near.items())
    text = f"Of the mistakes at |G| = {G}, the share one group away: {parts}."
    if "group-soft" in near and "group-ce" in near:
        diff = near["group-soft"] - near["group-ce"]
        text += (" Soft labels keep their mistakes closer than CE here." if diff > 0.02 else
                 " Soft labels do not keep their mistakes closer than CE here." if diff < -0.02 else
                 " Soft labels and CE place their mistakes about equally far here.")
    return text
