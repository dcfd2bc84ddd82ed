"""Reporting, in one place: the tables a paper can use, the verdicts and the sentences computed from them.

  table / markdown / latex        mean ± std per (row, metric) over folds, the best in bold, paired t-test marks
                                  against a chosen reference row, constant predictors as rows, published
                                  figures in brackets (Compare page, `python -m ildl table r.csv --latex`)
  study_table / study_markdown    the same for an ablation study's grid, marks against its full configuration
  study_verdict, verdict          sentences from those marks
  compare / verdicts              does a method beat its task's reference (uniform, MSE, CE), metric by metric
  explain                         where an LDL method's test error comes from (the decomposition columns)

Marks follow the papers' convention: on a row other than the reference, • means the *reference* is significantly
better than that row, ◦ significantly worse (paired t-test over the folds both have, p < 0.05, at least 3 folds).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .methods import parse
from .metrics import CONSTANT_PREDICTORS, LOWER_IS_BETTER, SIX
from .studies import Study, get
from .tasks import DEFAULT, TASKS
from .tasks import get as get_task

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

# What is known about a published figure beyond the paper, shown wherever it is (docs/reference_amema.md)
PUBLISHED_NOTES: dict[str, str] = {
    "amema": "The published AMEMA figures come from the authors' code (GitHub wenhuihji/AMEMA), which predicts with "
             "a head that no loss trains: run on these Movie folds, seeds 0–4, it gives 0.1964 ± 0.0236 Chebyshev "
             "and 0.2350 KL (best seed 0.1782), not the published 0.1703 — the seed of the random head decides "
             "(docs/reference_amema.md). The lab's `amema` is the paper's Algorithm 1 with trained heads.",
}


def published_notes(configs: Sequence[str], dataset: str | None) -> list[str]:
    """The notes of the published figures a table shows: its plain method names that have a published figure
    for `dataset` and a note."""
    pub = PUBLISHED.get(dataset or "", {})
    bases = {parse(c).base for c in configs if _is_method(c)} | set(configs)
    return [PUBLISHED_NOTES[m] for m in PUBLISHED_NOTES if m in bases and m in pub]


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


def paired_mark(ref: np.ndarray, row: np.ndarray, lower_is_better: bool, alpha: float = ALPHA) -> str:
    """The papers' mark for a row against the reference on paired folds: " •" the reference significantly
    better, " ◦" significantly worse (paired t-test, p < alpha, at least MIN_FOLDS finite pairs), else ""."""
    from scipy.stats import ttest_rel  # a slow import: only when a table is made

    ok = ~(np.isnan(ref) | np.isnan(row))
    a, b = ref[ok], row[ok]
    if len(a) < MIN_FOLDS or not np.std(a - b) > 0 or not ttest_rel(a, b).pvalue < alpha:
        return ""
    return " •" if (a.mean() < b.mean()) == lower_is_better else " ◦"


def table(rows: Sequence[dict[str, Any]], *, by: str = "method", reference: str | None = None,
          metrics: Sequence[str] = SIX, lower: dict[str, bool] | None = None, dataset: str | None = None,
          published: dict[str, dict[str, float]] | None = None, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per value of `by` (constants first): columns `config`, `folds`, `kind` (constant | trained),
    `<m>` (text), `<m>_mean`, `<m>_published`, `best_<m>` — the frame `markdown` and `latex` render."""
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
                mark = paired_mark(ref.loc[common, m].to_numpy(float), g.loc[common, m].to_numpy(float), lower[m],
                                   alpha)
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


def _is_method(name: str) -> bool:
    try:
        parse(name)
        return True
    except ValueError:
        return False


def label(row: dict[str, Any]) -> str:
    """A row's configuration as tables show it: 'lade@uniform' when rows are split by test prior."""
    return f"{row['config']}@{row['test_prior']}" if row.get("test_prior") else row["config"]


def _study_reference(st: Study, config: str) -> str:
    """The configuration a cell is t-tested against: the full method (under the same test prior for lt)."""
    return f"{st.full}@{config.rpartition('@')[2]}" if st.run.get("test_priors") and "@" in config else st.full


def study_table(rows: list[dict[str, Any]], name: str, dataset: str | None = None,
          metrics: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """The paper-style table: mean ± std per (config, metric) over finished folds, a paired t-test mark
    against the full configuration (• full significantly better, ◦ significantly worse, p < alpha, on the
    folds both have), and the published figures for the dataset where the papers give them.
    Columns `<metric>` hold the text, `<metric>_mean` the number, `best_<metric>` whether it is the best."""
    st = get(name)
    metrics = tuple(metrics or st.metrics)
    lower = get_task(st.task).lower_is_better
    constants = get_task(st.task).constant_methods
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame([dict(r, config=label(r)) for r in rows])
    priors = list(st.run.get("test_priors", []))
    refs = [c for c in dict.fromkeys(df["config"]) if c not in st.configs and c not in constants and _is_method(c)]
    rank = {c: i for i, c in enumerate((*st.configs, *constants, *refs))}

    def key(c: str) -> tuple[int, int]:  # grouped by test prior (lt), then in the study's own order
        base, _, prior = c.rpartition("@") if priors and "@" in c else (c, "", "")
        return (priors.index(prior) if prior in priors else 0, rank.get(base, len(rank)))

    order = sorted((c for c in set(df["config"]) if key(c)[1] < len(rank)), key=key)
    out = []
    for c in order:
        g = df[df["config"] == c].set_index("fold")
        r: dict[str, Any] = {"config": c + (" (oracle)" if c == "test_mean" else ""), "folds": len(g),
                             "kind": "constant" if c in constants else "reference" if c in refs else "trained"}
        ref = _study_reference(st, c)
        full = df[df["config"] == ref].set_index("fold")
        for m in metrics:
            mark = ""
            common = g.index.intersection(full.index)
            if c != ref and c not in constants:
                mark = paired_mark(full.loc[common, m].to_numpy(float), g.loc[common, m].to_numpy(float), lower[m],
                                   alpha)
            r[m] = f"{g[m].mean():.4f} ± {g[m].std(ddof=0):.4f}{mark}"
            r[f"{m}_mean"] = float(g[m].mean())
            pub = st.published.get(dataset or "", {}).get(c, {}).get(m)
            if pub is None and c in refs:  # a reference method's own published figure (spec §3c, §6)
                pub = PUBLISHED.get(dataset or "", {}).get(c, {}).get(m)
            r[f"{m}_published"] = pub
        out.append(r)
    t = pd.DataFrame(out)
    trained = t[t["kind"].isin(("trained", "reference")) | (t["config"] == "uniform") | (t["config"] == "train_mean")]
    # the best is per test prior (accuracies under different priors are not comparable)
    group = t["config"].map(lambda c: c.rpartition("@")[2] if priors and "@" in c else "")
    for m in metrics:
        t[f"best_{m}"] = False
        for gname in group.unique():
            sel = trained.index.intersection(t.index[group == gname])
            col = t.loc[sel, f"{m}_mean"]
            if col.notna().any():
                best = col.min() if lower[m] else col.max()
                t.loc[sel, f"best_{m}"] = t.loc[sel, f"{m}_mean"] == best
        t[f"best_{m}"] &= t["config"] != "test_mean (oracle)"
    return t


def study_verdict(t: pd.DataFrame, name: str) -> list[str]:
    """Plain sentences computed from a study table: where the full method is significantly better (•) or worse
    (◦) than another configuration, and — for label distributions — which configurations beat the uniform
    predictor at all."""
    if t.empty:
        return []
    st = get(name)
    metrics = [m for m in st.metrics if m in t]
    out = []
    trained = t[t["kind"] == "trained"]
    out += mark_sentences(trained, metrics, f"The full configuration **{st.full}**", "over folds")
    if not any(("•" in str(r[m]) or "◦" in str(r[m])) for _, r in trained.iterrows() for m in metrics):
        out.append("No configuration differs significantly from the full one on any metric.")
    uni = t[t["config"] == "uniform"]
    if len(uni) and "chebyshev" in metrics:
        out.append(reference_line({r["config"]: float(r["chebyshev_mean"]) for _, r in trained.iterrows()},
                                  float(uni["chebyshev_mean"].iloc[0]), "Chebyshev", True))
    return out


def study_markdown(t: pd.DataFrame, metrics: Sequence[str] | None = None, published: bool = True) -> str:
    """A markdown rendering of `study_table(...)`: best per column in bold, published figures in brackets."""
    if t.empty:
        return "_no finished folds yet_"
    metrics = metrics or [c[:-5] for c in t.columns if c.endswith("_mean")]
    lower = {m: v for t in TASKS.values() for m, v in t.lower_is_better.items()}
    arrows = {m: "↓" if lower[m] else "↑" for m in metrics}
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


# --------------------------------------------------------------------------- verdicts
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
