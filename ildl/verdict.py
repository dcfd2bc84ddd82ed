"""One verdict: does a method beat its task's reference, metric by metric? Sentences computed from the numbers
they describe (Train, Ablation and Compare pages, the CLI).

References: ldl — the uniform predictor 1/C (a method that does not beat it has learnt nothing about the test
distribution); dir — plain MSE regression; lt — plain cross-entropy (under the same test prior).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .tasks import DEFAULT
from .tasks import get as get_task

NOT_METHODS = ("train_mean", "test_mean")


def beats(a: float, b: float, lower_is_better: bool) -> bool:
    """Whether a mean `a` is strictly better than the reference's `b` (both finite): the one rule every verdict
    of the lab uses (runs, studies, the papers' tables)."""
    return bool(np.isfinite(a) and np.isfinite(b) and a != b and (a < b) == lower_is_better)


def reference_line(means: dict[str, float], ref: float, metric: str, lower_is_better: bool,
                   reference: str = "the uniform predictor") -> str:
    """One sentence: which of `means` (name → mean of `metric`) beat the reference's mean `ref`."""
    beat = [n for n, v in means.items() if beats(v, ref, lower_is_better)]
    if not beat:
        return (f"No configuration beats {reference} on {metric} ({ref:.4f})"
                + (": none has learnt the test distribution better than predicting 1/C." if reference ==
                   "the uniform predictor" else "."))
    if len(beat) < len(means):
        return f"Only {', '.join(beat)} beat{'s' if len(beat) == 1 else ''} {reference} on {metric} ({ref:.4f})."
    return f"Every configuration beats {reference} on {metric} ({ref:.4f})."


def compare(rows: Sequence[dict[str, Any]], task: str = DEFAULT) -> list[dict[str, Any]]:
    """Per trained (method, rule[, test prior]): the metrics on which it beats the reference and those where it
    does not, from the mean over the folds both have. Empty when the reference is not among the rows."""
    if not rows:
        return []
    t = get_task(task)
    ref = t.reference
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
            better = [k for k in metrics if beats(a[k], b[k], t.lower_is_better[k])]
            out.append(dict(method=m, select=rule, **dict(zip(split, keys)), reference=ref, folds=len(folds),
                            better=better, worse=[k for k in metrics if k not in better], metrics=metrics))
    return out


def verdicts(rows: Sequence[dict[str, Any]], task: str = DEFAULT) -> list[str]:
    """Plain sentences, one per trained method (and rule / test prior), from `compare`."""
    lines = []
    several_rules = get_task(task).several_rules
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


def explain(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Where each LDL method's test error comes from, from the decomposition columns (spec §3b), beside the
    uniform predictor: the shares of the test KL in the dominant degree and the non-dominant shape (they add
    up to it), the share already explained by the label prior (prior_gap ≤ kl by the joint convexity of KL, so
    it is a share too), how often the dominant label is right, and — when the method loses to uniform — which
    part it loses on; when a prior-corrected variant of it is among the rows, how much of the prior gap that
    removes. Empty without the decomposition columns."""
    if not rows:
        return []
    df = pd.DataFrame(list(rows))
    need = ("kl", "kl_dominant", "kl_nondominant", "prior_gap", "dominant_acc")
    if "method" not in df or any(c not in df for c in need):
        return []
    if "select" not in df:
        df["select"] = "-"
    df["select"] = df["select"].fillna("-")
    mean = df.groupby(["method", "select"], sort=False)[list(need)].mean()
    tops = df.groupby(["method", "select"], sort=False)[[c for c in ("top_pred", "top_test") if c in df]] \
        .agg(lambda v: v.mode().iloc[0] if len(v.dropna()) else np.nan)
    uni = mean.xs("uniform", level="method").iloc[0] if "uniform" in df["method"].values else None
    lines = []
    for (m, rule), r in mean.iterrows():
        if m in ("uniform", *NOT_METHODS) or not np.isfinite(r["kl"]) or r["kl"] <= 0:
            continue
        dom, nd, prior = r["kl_dominant"] / r["kl"], r["kl_nondominant"] / r["kl"], min(r["prior_gap"] / r["kl"], 1.0)
        main = "the dominant degree" if dom >= nd else "the non-dominant shape"
        text = (f"**{m}**: test KL {r['kl']:.3f} = {r['kl_dominant']:.3f} dominant degree ({dom:.0%}) + "
                f"{r['kl_nondominant']:.3f} non-dominant shape ({nd:.0%}); mostly {main}.")
        t = tops.loc[(m, rule)] if len(tops.columns) == 2 else None
        where = ""
        if t is not None and np.isfinite(t["top_pred"]) and t["top_pred"] != t["top_test"]:
            where = (f": its mean prediction puts most mass on label {int(t['top_pred'])} where the test folds "
                     f"centre on label {int(t['top_test'])}")
        if prior >= 0.5:
            text += f" {prior:.0%} of it is the label prior (prior_gap {r['prior_gap']:.3f}){where}."
        else:
            text += f" The label prior accounts for {prior:.0%} (prior_gap {r['prior_gap']:.3f}){where}."
        text += f" Dominant label right on {r['dominant_acc']:.0%} of test samples"
        if uni is not None:
            text += f" (uniform, whose tie always names label 0: {uni['dominant_acc']:.0%})."
            gap = r["kl"] - uni["kl"]
            d_dom, d_nd = r["kl_dominant"] - uni["kl_dominant"], r["kl_nondominant"] - uni["kl_nondominant"]
            split = f"{d_dom:+.3f} on the dominant degree, {d_nd:+.3f} on the non-dominant shape"
            if gap > 0:
                text += f" It loses to uniform by {gap:.3f} KL ({split})"
                text += (f"; its prior gap is {r['prior_gap'] - uni['prior_gap']:+.3f} above uniform's."
                         if r["prior_gap"] > uni["prior_gap"] else ".")
            else:
                text += f" It beats uniform by {-gap:.3f} KL ({split})."
        else:
            text += "."
        if "+" not in m and r["prior_gap"] > 0:
            for fix in (f"{m}+la", f"{m}+pc", f"{m}+la+shrink", f"{m}+pc+shrink"):
                if (fix, rule) in mean.index:
                    f = mean.loc[(fix, rule)]
                    cut = 1 - f["prior_gap"] / r["prior_gap"]
                    text += (f" **{fix}** {'removes' if cut > 0 else 'adds'} {abs(cut):.0%} of the prior gap "
                             f"(test KL {f['kl']:.3f}).")
        lines.append(text)
    return lines


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
