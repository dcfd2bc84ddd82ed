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
import torch

from . import metrics as Mx
from .batched import ModelJob, train_amema
from .data import Dataset
from .device import resolve as resolve_device
from .methods import parse
from .protocol import Protocol, make_protocol
from .trainer import fit_fold, method_config

CONSTANTS = ("uniform", "train_mean", "test_mean")


@dataclass(frozen=True)
class Study:
    name: str
    method: str
    full: str  # the configuration the paper proposes (the reference of the t-test marks)
    configs: dict[str, dict[str, Any]]  # config name → parameter overrides
    title: str = ""
    published: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # dataset → config → metric


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
}


def get(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study '{name}'; built in: {', '.join(STUDIES)}")
    return STUDIES[name]


def run_study(name: str, ds: Dataset, *, protocol: str | Protocol = "ildl", folds: int = 10, seed: int = 0,
              thresholds=None, fold_ids: Sequence[int] | None = None, overrides: dict[str, Any] | None = None,
              batched: bool = True, chunk_folds: int | None = None, device: str = "auto",
              emit: Callable[[dict], None] = lambda e: None, stop: threading.Event | None = None,
              on_fold: Callable[[dict], None] | None = None, scaling: str = "minmax",
              step_events: bool = True) -> list[dict[str, Any]]:
    """Every (configuration, fold) of a study: rows `study, config, fold, <metrics>, seconds`.

    `overrides` apply to every configuration (e.g. fewer epochs); `chunk_folds` trains that many folds per
    batch (the app uses small chunks so the table fills in as folds finish; None = all at once)."""
    st = get(name)
    proto = protocol if isinstance(protocol, Protocol) else make_protocol(
        ds, protocol, folds=folds, seed=seed, thresholds=thresholds)
    dev = resolve_device(device)
    spec = parse(st.method)
    cfgs = {c: method_config(spec, {**(overrides or {}), **ov}) for c, ov in st.configs.items()}
    splits = [s for s in proto.splits if fold_ids is None or s.fold in set(fold_ids)]
    rows: list[dict[str, Any]] = []

    def done(out: dict[str, Any]) -> None:
        rows.append(out["row"])
        if on_fold is not None:
            on_fold(out)

    for s in splits:  # constants first: instant, and they frame every table
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
                                   scaling=scaling, step_events=step_events):
                if not out["stopped"]:
                    done(out)
        else:
            for s in part:
                for c in st.configs:
                    if stop is not None and stop.is_set():
                        return rows
                    tag = dict(study=name, config=c)
                    out = fit_fold(spec, cfgs[c], ds, s, proto.head, device=dev, seed=seed,
                                   emit=lambda e, tag=tag: emit({**e, **tag}), stop=stop, scaling=scaling)
                    if out["stopped"]:
                        return rows
                    out["row"] = dict(study=name, config=c, **out["row"])
                    done(out)
    return rows


def table(rows: list[dict[str, Any]], name: str, dataset: str | None = None,
          metrics: Sequence[str] = Mx.SIX, alpha: float = 0.05) -> pd.DataFrame:
    """The paper-style table: mean ± std per (config, metric) over finished folds, a paired t-test mark
    against the full configuration (• full significantly better, ◦ significantly worse, p < alpha, on the
    folds both have), and the published figures for the dataset where the papers give them.
    Columns `<metric>` hold the text, `<metric>_mean` the number, `best_<metric>` whether it is the best."""
    from scipy.stats import ttest_rel

    st = get(name)
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    order = [c for c in (*st.configs, *CONSTANTS) if c in set(df["config"])]
    full = df[df["config"] == st.full].set_index("fold")
    out = []
    for c in order:
        g = df[df["config"] == c].set_index("fold")
        r: dict[str, Any] = {"config": c + (" (oracle)" if c == "test_mean" else ""), "folds": len(g),
                             "kind": "constant" if c in CONSTANTS else "trained"}
        for m in metrics:
            mark = ""
            common = g.index.intersection(full.index)
            if c != st.full and c not in CONSTANTS and len(common) >= 3:
                a, b = full.loc[common, m].to_numpy(), g.loc[common, m].to_numpy()
                if np.std(a - b) > 0:
                    p = ttest_rel(a, b).pvalue
                    if p < alpha:
                        full_better = (a.mean() < b.mean()) == Mx.LOWER_IS_BETTER[m]
                        mark = " •" if full_better else " ◦"
            r[m] = f"{g[m].mean():.4f} ± {g[m].std(ddof=0):.4f}{mark}"
            r[f"{m}_mean"] = float(g[m].mean())
            pub = st.published.get(dataset or "", {}).get(c, {}).get(m)
            r[f"{m}_published"] = pub
        out.append(r)
    t = pd.DataFrame(out)
    trained = t[(t["kind"] == "trained") | (t["config"] == "uniform") | (t["config"] == "train_mean")]
    for m in metrics:
        col = trained[f"{m}_mean"]
        best = col.min() if Mx.LOWER_IS_BETTER[m] else col.max()
        t[f"best_{m}"] = (t[f"{m}_mean"] == best) & (t["config"] != "test_mean (oracle)")
    return t


def markdown_table(t: pd.DataFrame, metrics: Sequence[str] = Mx.SIX, published: bool = True) -> str:
    """A markdown rendering of `table(...)`: best per column in bold, published figures in brackets."""
    if t.empty:
        return "_no finished folds yet_"
    arrows = {m: "↓" if Mx.LOWER_IS_BETTER[m] else "↑" for m in metrics}
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
