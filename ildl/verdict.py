"""One verdict: does a method beat its task's reference, metric by metric? Sentences computed from the numbers
they describe (Train, Ablation and Compare pages, the CLI).

References: ldl — the uniform predictor 1/C (a method that does not beat it has learnt nothing about the test
distribution); dir — plain MSE regression; lt — plain cross-entropy (under the same test prior).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .tasks import get as get_task

REFERENCE = {"ldl": "uniform", "dir": "mse", "lt": "ce"}
NOT_METHODS = ("train_mean", "test_mean")


def compare(rows: Sequence[dict[str, Any]], task: str = "ldl") -> list[dict[str, Any]]:
    """Per trained (method, rule[, test prior]): the metrics on which it beats the reference and those where it
    does not, from the mean over the folds both have. Empty when the reference is not among the rows."""
    if not rows:
        return []
    t = get_task(task)
    ref = REFERENCE[task]
    df = pd.DataFrame(list(rows))
    if "method" not in df or ref not in set(df["method"]):
        return []
    metrics = [m for m in t.table_metrics if m in df]
    split = [k for k in t.row_keys if k in df]
    if "select" not in df:
        df["select"] = "-"
    df["select"] = df["select"].fillna("-")
    out = []
    for keys, g in df.groupby(split, sort=False) if split else [((), df)]:
        keys = keys if isinstance(keys, tuple) else (keys,)
        r = g[g["method"] == ref]
        for (m, rule), gm in g[~g["method"].isin((ref, *NOT_METHODS))].groupby(["method", "select"], sort=False):
            folds = sorted(set(gm["fold"]) & set(r["fold"]))
            if not folds:
                continue
            a = gm[gm["fold"].isin(folds)][metrics].mean()
            b = r[r["fold"].isin(folds)][metrics].mean()
            better = [k for k in metrics if np.isfinite(a[k]) and np.isfinite(b[k])
                      and (a[k] < b[k]) == t.lower_is_better[k] and a[k] != b[k]]
            out.append(dict(method=m, select=rule, **dict(zip(split, keys)), reference=ref, folds=len(folds),
                            better=better, worse=[k for k in metrics if k not in better], metrics=metrics))
    return out


def verdicts(rows: Sequence[dict[str, Any]], task: str = "ldl") -> list[str]:
    """Plain sentences, one per trained method (and rule / test prior), from `compare`."""
    lines = []
    several_rules = len(get_task(task).select_rules) > 1
    for c in compare(rows, task):
        who = f"**{c['method']}**" + (f" ({c['select']})" if several_rules and c["select"] not in ("-", None) else "") \
            + (f" under the {c['test_prior']} test prior" if c.get("test_prior") else "")
        ref = "the uniform predictor" if c["reference"] == "uniform" else f"**{c['reference']}**"
        n = f" ({c['folds']} fold{'s' if c['folds'] != 1 else ''})"
        if len(c["better"]) == len(c["metrics"]):
            lines.append(f"✅ {who} beats {ref} on all {len(c['metrics'])} metrics{n}.")
        elif not c["better"]:
            tail = " — it has learnt nothing useful for this test distribution" if c["reference"] == "uniform" else ""
            lines.append(f"⚠️ {who} does not beat {ref} on any metric{n}{tail}.")
        else:
            lines.append(f"➖ {who} beats {ref} on {_join(c['better'])}, not on {_join(c['worse'])}{n}.")
    return lines


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
