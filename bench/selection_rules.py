"""Which model-selection rule to use by default — decided on the synthetic generator, never on a benchmark's test folds.

    python bench/selection_rules.py                 # about 6 minutes on 2 CPU cores
    python bench/selection_rules.py --quick         # one generator setting, 3 folds

Each trained ILDL method is trained once per (generator setting, fold) under the ILDL protocol and reported
under every rule of `ildl.selection` (same weights, different epochs chosen). The synthetic generator's
test folds are untouched by the ILDL filter, like Movie's, so they show what each rule does under the
protocol's label shift. Printed: mean test KL and Chebyshev per (method, rule), how often each rule is the
best of the three on a (setting, fold, method), and the mean rank.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from ildl import selection as S
from ildl.data import make_synthetic
from ildl.runner import run_experiment

SETTINGS = [dict(seed=0), dict(seed=1, skew=50.0), dict(seed=2, dominance=0.7), dict(seed=3, n_labels=8, skew=20.0)]
METHODS = ["ldl-kl", "ofr-db", "rda", "dildl", "amema"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--methods", default=",".join(METHODS))
    a = ap.parse_args(argv)
    settings = SETTINGS[:1] if a.quick else SETTINGS
    folds = 3 if a.quick else 5
    rows = []
    t0 = time.perf_counter()
    for st in settings:
        ds = make_synthetic(**st)
        out = run_experiment(ds, ["uniform", *a.methods.split(",")], protocol="ildl", folds=5,
                             fold_ids=range(folds), select="all")
        for r in out:
            rows.append(dict(r, setting=str(st)))
        print(f"  {st}: {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    trained = df[df["select"] != "-"].copy()
    print(f"\nsynthetic generator, ILDL protocol, {len(settings)} settings × {folds} folds, "
          f"{time.perf_counter() - t0:.0f} s — test metrics of the epoch each rule chose")
    print(trained.groupby(["method", "select"], sort=False)[["kl", "chebyshev"]].mean().unstack("select").round(4)
          .to_string())
    for m in ("kl", "chebyshev"):
        trained[f"rank_{m}"] = trained.groupby(["setting", "fold", "method"])[m].rank(method="min")
        wins = (trained[f"rank_{m}"] == 1).groupby(trained["select"]).mean()
        rank = trained.groupby("select")[f"rank_{m}"].mean()
        print(f"\n{m}: share of (setting, fold, method) where the rule is best / mean rank (1 = best of 3)")
        for rule in S.RULES:
            print(f"  {rule:<16} {wins.get(rule, np.nan):6.1%}   {rank.get(rule, np.nan):.2f}")
    uni = df[df["method"] == "uniform"][["kl", "chebyshev"]].mean()
    print(f"\nuniform predictor: kl {uni['kl']:.4f}, chebyshev {uni['chebyshev']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
