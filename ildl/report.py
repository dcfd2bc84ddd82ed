"""Tables a paper can use: mean ± std per (row, metric) over folds, the best value in bold, paired t-test marks
against a chosen reference row, constant predictors as rows, published figures in brackets — as a frame, as
Markdown and as LaTeX (Compare and Ablation pages, `python -m ildl table r.csv --latex`).

Marks follow the papers' convention: on a row other than the reference, • means the *reference* is significantly
better than that row, ◦ significantly worse (paired t-test over the folds both have, p < 0.05, at least 3 folds).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .methods import parse
from .metrics import CONSTANT_PREDICTORS, LOWER_IS_BETTER, SIX

ALPHA = 0.05
HEAD = {"kl": "KL"}  # LaTeX column heads that are not just capitalised
MIN_FOLDS = 3  # fewer folds: no test at all
FEW_FOLDS = 5  # fewer folds: a test has little power, said next to the marks

# Published figures (spec §6 and §3c: AMEMA paper, Tables 1–2, ILDL protocol, mean over 10 splits)
_DATASETS = ("Movie", "SCUT-FBP", "Emotion6", "Flickr-LDL", "RAF-ML", "Natural Scene")
_CHEB = {"ofr-db": (0.2548, 0.3199, 0.3772, 0.5252, 0.4638, 0.3872), "rda": (0.1962, 0.2849, 0.3598, 0.5208, 0.3756, 0.3768),
         "dildl": (0.1752, 0.2684, 0.3485, 0.5025, 0.3484, 0.3624), "amema": (0.1703, 0.2115, 0.3358, 0.4531, 0.3433, 0.3243)}
_KL = {"ofr-db": (0.3883, 0.5577, 0.9238, 1.7751, 1.1481, 1.1746), "rda": (0.2491, 0.4331, 0.7677, 1.6071, 0.7058, 1.1188),
       "dildl": (0.2211, 0.4131, 0.7393, 1.5011, 0.6025, 1.0734), "amema": (0.1924, 0.3253, 0.6611, 1.1771, 0.5455, 0.8344)}
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    ds: {m: {"chebyshev": _CHEB[m][i], "kl": _KL[m][i]} for m in _CHEB} for i, ds in enumerate(_DATASETS)}
PUBLISHED["Movie"].update({"ofr-fl": {"chebyshev": 0.3416, "kl": 0.6459}, "ofr-cb": {"chebyshev": 0.3337, "kl": 0.6288}})
# the classic learners (spec §3c; same tables)
_CLASSIC_CHEB = {"sa-bfgs": (0.3415, 0.7266, 0.8292, 0.8948, 0.7575, 0.6621),
                 "edl-lrl": (0.3638, 0.3522, 0.4175, 0.5811, 0.4784, 0.4341),
                 "ldlsf": (0.3624, 0.4701, 0.4355, 0.5697, 0.4177, 0.4440),
                 "ldl-lclr": (0.3346, 0.3332, 0.5239, 0.7033, 0.3849, 0.5680),
                 "adam-ldl-scl": (0.7175, 0.4460, 0.4711, 0.6711, 0.5848, 0.4773),
                 "ldl-ldm": (0.4858, 0.4030, 0.4739, 0.5816, 0.5348, 0.4769)}
_CLASSIC_KL = {"sa-bfgs": (0.8007, 13.04, 21.8514, 27.1262, 18.2051, 4.7976),
               "edl-lrl": (0.7797, 0.8111, 1.4348, 9.9140, 1.2838, 2.5862),
               "ldlsf": (3.1338, 8.4136, 9.4371, 12.8509, 7.0684, 8.8454),
               "ldl-lclr": (0.6803, 0.6034, 2.2820, 6.2168, 1.0106, 2.9449),
               "adam-ldl-scl": (19.1715, 2.3768, 8.1116, 17.1944, 6.1170, 9.6209),
               "ldl-ldm": (1.8123, 1.0253, 1.7890, 2.7424, 1.9157, 1.7753)}
for _i, _ds in enumerate(_DATASETS):
    PUBLISHED[_ds].update({m: {"chebyshev": _CLASSIC_CHEB[m][_i], "kl": _CLASSIC_KL[m][_i]} for m in _CLASSIC_CHEB})

# The row groups of the papers' tables, in their order: constants, the classic LDL learners, the task's baselines,
# the imbalanced-LDL methods (a method's `family`).
GROUPS = ("constant", "classic", "baseline", "ildl")
GROUP_TITLES = {"constant": "constant predictors", "classic": "classic LDL learners", "baseline": "baselines",
                "ildl": "imbalanced-LDL methods"}


def group_of(name: str) -> str:
    """The table group of a row name ('ldl-lclr', 'amema+la', 'uniform'); names that are not methods (a study's
    configurations) are baselines."""
    if name in CONSTANT_PREDICTORS:
        return "constant"
    try:
        return parse(name).entry.cls.family or "baseline"
    except (ValueError, KeyError):
        return "baseline"


def table(rows: Sequence[dict[str, Any]], *, by: str = "method", reference: str | None = None,
          metrics: Sequence[str] = SIX, lower: dict[str, bool] | None = None, dataset: str | None = None,
          published: dict[str, dict[str, float]] | None = None, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per value of `by` (constants first): columns `config`, `folds`, `kind` (constant | trained),
    `<m>` (text), `<m>_mean`, `<m>_published`, `best_<m>` — the frame `markdown` and `latex` render."""
    from scipy.stats import ttest_rel

    lower = {**LOWER_IS_BETTER, **(lower or {})}
    df = pd.DataFrame(list(rows))
    if df.empty or by not in df:
        return pd.DataFrame()
    metrics = [m for m in metrics if m in df]
    pub = published if published is not None else PUBLISHED.get(dataset or "", {})
    names = list(dict.fromkeys(df[by]))
    names = [n for n in CONSTANT_PREDICTORS if n in names] + [n for n in names if n not in CONSTANT_PREDICTORS]
    names = sorted(names, key=lambda n: GROUPS.index(group_of(n)))  # stable: the given order within a group
    ref = df[df[by] == reference].groupby("fold")[metrics].mean() if reference in names else None
    out = []
    for n in names:
        g = df[df[by] == n].groupby("fold")[metrics].mean()
        r: dict[str, Any] = {"config": n + (" (oracle)" if n == "test_mean" else ""), "folds": len(g),
                             "kind": "constant" if n in CONSTANT_PREDICTORS else "trained", "group": group_of(n)}
        common = g.index.intersection(ref.index) if ref is not None and n != reference else []
        for m in metrics:
            mark = ""
            if len(common) >= MIN_FOLDS and r["kind"] == "trained":
                a, b = ref.loc[common, m].to_numpy(float), g.loc[common, m].to_numpy(float)
                ok = ~(np.isnan(a) | np.isnan(b))
                if ok.sum() >= MIN_FOLDS and np.std(a[ok] - b[ok]) > 0 and ttest_rel(a[ok], b[ok]).pvalue < alpha:
                    mark = " •" if (a[ok].mean() < b[ok].mean()) == lower[m] else " ◦"
            sd = f" ± {g[m].std(ddof=0):.4f}" if len(g) > 1 else ""
            r[m] = f"{g[m].mean():.4f}{sd}{mark}"
            r[f"{m}_mean"] = float(g[m].mean())
            r[f"{m}_published"] = pub.get(n, {}).get(m)  # published figures belong to the plain names
        out.append(r)
    t = pd.DataFrame(out)
    for m in metrics:
        cand = t[t["config"] != "test_mean (oracle)"][f"{m}_mean"]
        best = cand.min() if lower[m] else cand.max()
        t[f"best_{m}"] = (t[f"{m}_mean"] == best) & (t["config"] != "test_mean (oracle)")
    return t


def caution(t: pd.DataFrame) -> str:
    """A sentence about what the marks can say, from the fold counts of the table."""
    if t.empty:
        return ""
    n = int(t[t["kind"] == "trained"]["folds"].min()) if (t["kind"] == "trained").any() else 0
    if n < MIN_FOLDS:
        return f"With {n} fold{'s' if n != 1 else ''} no significance test is made (it needs at least {MIN_FOLDS})."
    if n < FEW_FOLDS:
        return (f"Caution: with only {n} folds a paired t-test has little power and its p-value rests on very few "
                "differences; read the marks as indicative, not as evidence.")
    return ""


def _lower(m: str) -> bool:
    """↓ or ↑ for any task's metric (accuracies are the only higher-is-better ones outside LDL's)."""
    return LOWER_IS_BETTER.get(m, not m.startswith(("acc", "group_acc")))


def _metric_heads(t: pd.DataFrame) -> list[str]:
    return [c[:-5] for c in t.columns if c.endswith("_mean")]


def markdown(t: pd.DataFrame, published: bool = True) -> str:
    """Best per column in bold, published figures in brackets, constants in italics."""
    if t.empty:
        return "_no finished folds yet_"
    metrics = _metric_heads(t)
    lines = ["| config | folds | " + " | ".join(f"{m} {'↓' if _lower(m) else '↑'}" for m in metrics)
             + " |", "|" + "---|" * (len(metrics) + 2)]
    titled = "group" in t and t["group"].nunique() > 2  # more than constants + one group: say where each starts
    last = None
    for _, r in t.iterrows():
        if titled and r["group"] != last and r["group"] != "constant":
            lines.append(f"| *{GROUP_TITLES[r['group']]}* | |" + " |" * len(metrics))
        last = r.get("group")
        cells = []
        for m in metrics:
            v = f"**{r[m]}**" if r[f"best_{m}"] else str(r[m])
            p = r.get(f"{m}_published")
            if published and p is not None and not (isinstance(p, float) and np.isnan(p)):
                v += f" [{p:.4f}]"
            cells.append(v)
        name = f"_{r['config']}_" if r["kind"] == "constant" else str(r["config"])
        lines.append(f"| {name} | {r['folds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _tex(s: str) -> str:
    return (str(s).replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")
            .replace("#", r"\#").replace("±", r"$\pm$"))


def latex(t: pd.DataFrame, caption: str = "", published: bool = True) -> str:
    """A booktabs table: mean ± std, best in \\textbf, •/◦ as $\\bullet$/$\\circ$, published in brackets."""
    if t.empty:
        return "% no finished folds yet"
    metrics = _metric_heads(t)
    arrow = {True: r"$\downarrow$", False: r"$\uparrow$"}
    head = " & ".join(["Method", "Folds"] + [f"{_tex(HEAD.get(m, m.capitalize()))} {arrow[_lower(m)]}"
                                            for m in metrics]) + r" \\"
    body = []
    for _, r in t.iterrows():
        cells = []
        for m in metrics:
            text = str(r[m]).replace("±", r"$\pm$").replace(" •", r" $\bullet$").replace(" ◦", r" $\circ$")
            if r[f"best_{m}"]:
                num, _, rest = text.partition(" ")
                text = rf"\textbf{{{num}}} {rest}".rstrip()
            p = r.get(f"{m}_published")
            if published and p is not None and not (isinstance(p, float) and np.isnan(p)):
                text += f" [{p:.4f}]"
            cells.append(text)
        name = rf"\textit{{{_tex(r['config'])}}}" if r["kind"] == "constant" else _tex(r["config"])
        body.append(" & ".join([name, str(r["folds"])] + cells) + r" \\")
    groups = list(t["group"]) if "group" in t else ["constant" if k == "constant" else "trained" for k in t["kind"]]
    for i in reversed(range(1, len(groups))):  # a rule between groups
        if groups[i] != groups[i - 1]:
            body.insert(i, r"\midrule")
    cols = "l r " + " ".join("c" for _ in metrics)
    return "\n".join([r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex(caption)}}}" if caption else "",
                      rf"\begin{{tabular}}{{{cols}}}", r"\toprule", head, r"\midrule", *body, r"\bottomrule",
                      r"\end{tabular}", r"\end{table}"]).replace("\n\n", "\n")


def mark_sentences(rows: pd.DataFrame, metrics: Sequence[str], who: str, over: str) -> list[str]:
    """'<who> is significantly better than A (kl); B (all metrics) …' from the •/◦ marks of a table's rows."""
    out = []
    for sign, word in (("•", "better"), ("◦", "worse")):
        parts = []
        for _, r in rows.iterrows():
            hits = [m for m in metrics if str(r[m]).endswith(sign)]
            if hits:
                parts.append(f"{r['config']} ({'all metrics' if len(hits) == len(metrics) else ', '.join(hits)})")
        if parts:
            out.append(f"{who} is significantly **{word}** than " + "; ".join(parts)
                       + f" (paired t-test {over}, p < 0.05).")
    return out


def verdict(t: pd.DataFrame, reference: str) -> list[str]:
    """Sentences from the marks of a `table` against `reference`."""
    if t.empty or reference not in set(t["config"]):
        return []
    trained = t[(t["kind"] == "trained") & (t["config"] != reference)]
    out = mark_sentences(trained, _metric_heads(t), f"**{reference}**", "over the shared folds")
    if len(trained) and not out and int(trained["folds"].min()) >= MIN_FOLDS:
        out.append(f"No run differs significantly from **{reference}** on any metric (paired t-test, p < 0.05).")
    c = caution(t)
    return out + ([c] if c else [])
