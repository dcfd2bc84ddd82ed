"""Ablation studies: a dataset + protocol + a grid of configurations × folds, as in the papers' tables.

Built in: `amema` (WEIG × MOME) and `dildl` (DRDA × DLD). AMEMA's grid trains batched (`ildl.batched`):
all folds × configurations as one stacked computation; DILDL trains model by model. Rows carry `study`,
`config` and `fold`; the constant predictors are added as configurations of their own.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from . import metrics as Mx
from . import selection as S
from .batched import ModelJob, train_amema
from .data import Dataset
from .device import resolve as resolve_device
from .methods import parse
from .protocol import Protocol, make_protocol
from .trainer import fit_fold, method_config

CONSTANTS = ("uniform", "train_mean", "test_mean")


DIR_METRICS = ("mae", "gm", "mae_many", "mae_medium", "mae_few", "group_acc")
LT_METRICS = ("acc", "acc_many", "acc_medium", "acc_few")
LOWER_IS_BETTER = {**Mx.LOWER_IS_BETTER, **{m: m != "group_acc" for m in DIR_METRICS},
                   **{m: False for m in LT_METRICS}}
TASK_DATASETS = {"dir": ("FG-Net", "synthetic-dir"), "lt": ("digits-lt", "synthetic-lt")}


@dataclass(frozen=True)
class Study:
    name: str
    method: str
    full: str  # the configuration the paper proposes (the reference of the t-test marks)
    configs: dict[str, dict[str, Any]]  # config name → parameter overrides
    title: str = ""
    published: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # dataset → config → metric
    task: str = "ldl"  # ldl | dir | lt
    metrics: tuple[str, ...] = Mx.SIX

    def reference(self, config: str) -> str:
        """The configuration a cell is t-tested against: the full method (under the same test prior for lt)."""
        if self.task == "lt":
            return f"{self.full}@{config.split('@')[1]}"
        return self.full


def _pub(vals: Sequence[float]) -> dict[str, float]:
    return dict(zip(Mx.SIX, vals))


STUDIES: dict[str, Study] = {
    "amema": Study(
        "amema", "amema", "weig+mome",
        {"weig+mome": {}, "weig": {"mome": False}, "mome": {"weig": False}, "none": {"weig": False, "mome": False}},
        "AMEMA: EMA branch weights (WEIG) × adaptive branch momenta (MOME)",
        {"Movie": {"none": _pub([0.175, 0.768, 1.529, 0.221, 0.834, 0.729]),
                   "weig+mome": _pub([0.170, 0.689, 1.289, 0.192, 0.855, 0.748])}}),
    "dildl": Study(
        "dildl", "dildl", "drda+dld",
        {"drda+dld": {}, "drda": {"dld": False}, "dld": {"drda": False}, "none": {"drda": False, "dld": False}},
        "DILDL: decoupled alignment (DRDA) × decoupled loss (DLD)",
        {"Movie": {"none": _pub([0.198, 0.802, 1.561, 0.254, 0.808, 0.703]),
                   "drda+dld": _pub([0.175, 0.768, 1.529, 0.221, 0.834, 0.729])}}),
    "group-dir": Study(
        "group-dir", "group-dir", "group-soft@G10",
        {f"{c}@G{G}": {"method": c, "groups": G} for G in (5, 10, 25) for c in ("group-ce", "group-la", "group-soft")},
        "Group-DIR: group criterion (CE / LA / soft labels) × number of groups |G|", task="dir", metrics=DIR_METRICS),
    "lt": Study(
        "lt", "lt", "lade",
        {f"{m}@{p}": {"method": m, "prior": p} for p in ("uniform", "forward50", "backward50")
         for m in ("ce", "pc", "la", "balanced-softmax", "lade")},
        "Label shift: CE / PC / LA / balanced softmax / LADE × test prior (folds = seeds)", task="lt",
        metrics=LT_METRICS),
}


def study_configs(st: Study, overrides: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every configuration's fully resolved parameters (plus `method` / `groups` / `prior` for dir and lt)."""
    from . import groupdir, longtail
    from .config import resolve

    out = {}
    for c, ov in st.configs.items():
        if st.task == "ldl":
            out[c] = method_config(parse(st.method), {**(overrides or {}), **ov})
        else:
            params = groupdir.PARAMS if st.task == "dir" else longtail.PARAMS
            extra = {k: v for k, v in ov.items() if k in ("method", "groups", "prior")}
            out[c] = {**resolve(params, {**(overrides or {}), **{k: v for k, v in ov.items() if k not in extra}}),
                      **extra}
    return out


def total_epochs(st: Study, configs: dict[str, dict[str, Any]], n_folds: int) -> int:
    if st.task == "lt":  # one trained model per (method, seed), evaluated under every prior
        return n_folds * sum({c["method"]: c["epochs"] for c in configs.values()}.values())
    return n_folds * sum(c["epochs"] for c in configs.values())


def get(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study '{name}'; built in: {', '.join(STUDIES)}")
    return STUDIES[name]


def run_study(name: str, ds: Dataset, *, protocol: str | Protocol = "ildl", folds: int = 10, seed: int = 0,
              thresholds=None, fold_ids: Sequence[int] | None = None, overrides: dict[str, Any] | None = None,
              batched: bool = True, chunk_folds: int | None = None, device: str = "auto",
              emit: Callable[[dict], None] = lambda e: None, stop: threading.Event | None = None,
              on_fold: Callable[[dict], None] | None = None, scaling: str = "minmax",
              step_events: bool = True, select: str | None = None) -> list[dict[str, Any]]:
    """Every (configuration, fold) of a study: rows `study, config, fold, <metrics>, seconds`.

    `overrides` apply to every configuration (e.g. fewer epochs); `chunk_folds` trains that many folds per
    batch (the app uses small chunks so the table fills in as folds finish; None = all at once)."""
    st = get(name)
    if st.task == "dir":
        return _run_dir(st, ds, folds=folds, seed=seed, fold_ids=fold_ids, overrides=overrides, device=device,
                        emit=emit, stop=stop, on_fold=on_fold)
    if st.task == "lt":
        return _run_lt(st, ds, seeds=folds, fold_ids=fold_ids, overrides=overrides, device=device, emit=emit,
                       stop=stop, on_fold=on_fold)
    proto = protocol if isinstance(protocol, Protocol) else make_protocol(
        ds, protocol, folds=folds, seed=seed, thresholds=thresholds)
    dev = resolve_device(device)
    rule = S.parse(select)[0]
    spec = parse(st.method)
    cfgs = {c: method_config(spec, {**(overrides or {}), **ov}) for c, ov in st.configs.items()}
    splits = [s for s in proto.splits if fold_ids is None or s.fold in set(fold_ids)]
    rows: list[dict[str, Any]] = []

    def done(out: dict[str, Any]) -> None:
        out["rows"] = [out["row"]]  # a study reports its one rule; the row carries study and config
        rows.append(out["row"])
        if on_fold is not None:
            on_fold(out)

    for s in splits:  # constants first: instant, and they frame every table (ILDL studies)
        for c in CONSTANTS:
            out = fit_fold(parse(c), {}, ds, s, proto.head, device=dev, emit=lambda e: None)
            out["row"] = dict(study=name, config=c, **{k: v for k, v in out["row"].items() if k != "method"},
                              method=c)
            done(out)
    chunk = chunk_folds or len(splits)
    for i in range(0, len(splits), chunk):
        part = splits[i:i + chunk]
        if stop is not None and stop.is_set():
            break
        if batched and st.method == "amema":
            jobs = [ModelJob(cfgs[c], s, dict(study=name, config=c, method=st.method, fold=s.fold))
                    for s in part for c in st.configs]
            for out in train_amema(jobs, ds, proto.head, device=dev, seed=seed, emit=emit, stop=stop,
                                   scaling=scaling, step_events=step_events, select=rule):
                if not out["stopped"]:
                    done(out)
        else:
            for s in part:
                for c in st.configs:
                    if stop is not None and stop.is_set():
                        return rows
                    tag = dict(study=name, config=c)
                    out = fit_fold(spec, cfgs[c], ds, s, proto.head, device=dev, seed=seed,
                                   emit=lambda e, tag=tag: emit({**e, **tag}), stop=stop, scaling=scaling,
                                   select=[rule])
                    if out["stopped"]:
                        return rows
                    out["row"] = dict(study=name, config=c, **out["row"])
                    done(out)
    return rows


def _run_dir(st: Study, ds: Dataset, *, folds, seed, fold_ids, overrides, device, emit, stop, on_fold):
    """Group-DIR grid: K-fold over the regression set, every (criterion, |G|) on every fold."""
    from sklearn.model_selection import KFold

    from . import groupdir

    y = groupdir.targets_of(ds)
    cfgs = study_configs(st, overrides)
    dev = "cuda" if resolve_device(device).type == "cuda" else "cpu"
    rows = []
    for f, (tr, te) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(ds.X)):
        if fold_ids is not None and f not in set(fold_ids):
            continue
        for c, cfg in cfgs.items():
            if stop is not None and stop.is_set():
                return rows
            tag = dict(study=st.name, config=c, method=cfg["method"], fold=f)
            out = groupdir.fit_fold(cfg["method"], cfg, ds.X[tr], y[tr], ds.X[te], y[te], n_groups=cfg["groups"],
                                    seed=seed * 1000 + f, device=dev, emit=emit, stop=stop, tag=tag)
            if stop is not None and stop.is_set():
                return rows
            out["row"].update(tag)
            rows.append(out["row"])
            if on_fold is not None:
                on_fold(out)
    return rows


def _run_lt(st: Study, ds: Dataset | str, *, seeds, fold_ids, overrides, device, emit, stop, on_fold):
    """Label-shift grid: per seed, each method trained once and evaluated under every test prior."""
    from . import longtail as LT

    name = ds if isinstance(ds, str) else ds.name
    cfgs = study_configs(st, overrides)
    imbalance = float((overrides or {}).get("imbalance", 100.0))
    dev = "cuda" if resolve_device(device).type == "cuda" else "cpu"
    rows = []
    for seed in range(seeds):
        if fold_ids is not None and seed not in set(fold_ids):
            continue
        data = LT.load_lt(name, imbalance, seed)
        for m in dict.fromkeys(c["method"] for c in cfgs.values()):
            if stop is not None and stop.is_set():
                return rows
            t0 = time.perf_counter()
            cfg = next(c for c in cfgs.values() if c["method"] == m)
            net = LT.train(m, data, {k: v for k, v in cfg.items() if k not in ("method", "prior")}, seed=seed,
                           device=dev, emit=lambda e: emit(dict(e, study=st.name, fold=seed)), stop=stop)
            if stop is not None and stop.is_set():
                return rows
            lg = LT.logits_of(net, data.X_pool)
            for c, cc in cfgs.items():
                if cc["method"] != m:
                    continue
                p_t = LT.test_prior(cc["prior"], data.n_classes)
                idx = LT.shifted_test_set(data, p_t, seed)
                row = dict(study=st.name, config=c, method=m, fold=seed, test_prior=cc["prior"],
                           **LT.accuracy(m, lg[idx], data.y_pool[idx], data, p_t), seconds=time.perf_counter() - t0)
                rows.append(row)
                if on_fold is not None:
                    on_fold(dict(row=row))
    return rows


def load_for(name: str, dataset: str, **kw) -> Dataset | str:
    """The dataset object a study needs: ILDL datasets and regression sets are loaded, lt sets go by name."""
    st = get(name)
    if st.task == "lt":
        if dataset not in TASK_DATASETS["lt"]:
            raise ValueError(f"the lt study runs on {', '.join(TASK_DATASETS['lt'])}")
        return dataset
    if st.task == "dir":
        from .groupdir import load_dir

        return load_dir(dataset, **kw)
    from .data import load

    return load(dataset, **kw)


def table(rows: list[dict[str, Any]], name: str, dataset: str | None = None,
          metrics: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """The paper-style table: mean ± std per (config, metric) over finished folds, a paired t-test mark
    against the full configuration (• full significantly better, ◦ significantly worse, p < alpha, on the
    folds both have), and the published figures for the dataset where the papers give them.
    Columns `<metric>` hold the text, `<metric>_mean` the number, `best_<metric>` whether it is the best."""
    from scipy.stats import ttest_rel

    st = get(name)
    metrics = tuple(metrics or st.metrics)
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    order = [c for c in (*st.configs, *CONSTANTS) if c in set(df["config"])]
    out = []
    for c in order:
        g = df[df["config"] == c].set_index("fold")
        r: dict[str, Any] = {"config": c + (" (oracle)" if c == "test_mean" else ""), "folds": len(g),
                             "kind": "constant" if c in CONSTANTS else "trained"}
        ref = st.reference(c)
        full = df[df["config"] == ref].set_index("fold")
        for m in metrics:
            mark = ""
            common = g.index.intersection(full.index)
            if c != ref and c not in CONSTANTS and len(common) >= 3:
                a, b = full.loc[common, m].to_numpy(float), g.loc[common, m].to_numpy(float)
                ok = ~(np.isnan(a) | np.isnan(b))
                if ok.sum() >= 3 and np.std(a[ok] - b[ok]) > 0:
                    p = ttest_rel(a[ok], b[ok]).pvalue
                    if p < alpha:
                        full_better = (a[ok].mean() < b[ok].mean()) == LOWER_IS_BETTER[m]
                        mark = " •" if full_better else " ◦"
            r[m] = f"{g[m].mean():.4f} ± {g[m].std(ddof=0):.4f}{mark}"
            r[f"{m}_mean"] = float(g[m].mean())
            pub = st.published.get(dataset or "", {}).get(c, {}).get(m)
            r[f"{m}_published"] = pub
        out.append(r)
    t = pd.DataFrame(out)
    trained = t[(t["kind"] == "trained") | (t["config"] == "uniform") | (t["config"] == "train_mean")]
    # lt: the best is per test prior (accuracies under different priors are not comparable)
    group = t["config"].str.split("@").str[1] if st.task == "lt" else pd.Series([""] * len(t), index=t.index)
    for m in metrics:
        t[f"best_{m}"] = False
        for gname in group.unique():
            sel = trained.index.intersection(t.index[group == gname])
            col = t.loc[sel, f"{m}_mean"]
            if col.notna().any():
                best = col.min() if LOWER_IS_BETTER[m] else col.max()
                t.loc[sel, f"best_{m}"] = t.loc[sel, f"{m}_mean"] == best
        t[f"best_{m}"] &= t["config"] != "test_mean (oracle)"
    return t


def markdown_table(t: pd.DataFrame, metrics: Sequence[str] | None = None, published: bool = True) -> str:
    """A markdown rendering of `table(...)`: best per column in bold, published figures in brackets."""
    if t.empty:
        return "_no finished folds yet_"
    metrics = metrics or [c[:-5] for c in t.columns if c.endswith("_mean")]
    arrows = {m: "↓" if LOWER_IS_BETTER[m] else "↑" for m in metrics}
    head = "| config | folds | " + " | ".join(f"{m} {arrows[m]}" for m in metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    for _, r in t.iterrows():
        cells = []
        for m in metrics:
            v = r[m]
            if r[f"best_{m}"]:
                v = f"**{v}**"
            pub = r.get(f"{m}_published")
            if published and pub is not None and not (isinstance(pub, float) and np.isnan(pub)):
                v += f" [{pub:.3f}]"
            cells.append(v)
        name = f"_{r['config']}_" if r["kind"] == "constant" else r["config"]
        lines.append(f"| {name} | {r['folds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
