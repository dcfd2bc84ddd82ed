"""Does a validation split that leans toward the test data let `+shrink` see the ILDL shift? Generator only.

    python bench/val_split.py            # 27 regimes × folds 0–2, both splits, about 3 minutes on 2 CPU cores
    python bench/val_split.py --quick    # two regimes

Under the ILDL protocol the 20 validation samples are drawn from the kept (filtered) training set, so they look
like training data and `+shrink` picks λ = 0 where the test folds need more. `--val-split boundary` holds out the
20 kept samples nearest the filter's edge instead (`ildl.protocol.filter_margin`). On the regimes grid of
`bench/regimes.py`, each shrunk candidate of `bench/recommend.py` and the logit-adjusted model under them are
trained with both splits; printed per (method, split): the mean test KL and Chebyshev over (regime, fold), the
mean λ chosen, and in how many regimes the method beats the uniform predictor on both.

The criterion, fixed before the first run: boundary validation *helps* a shrunk method when it lowers that
method's mean test KL and beats uniform in at least as many regimes. Either way the papers' random split stays the
default: the boundary split changes every method's training set (it removes 20 boundary samples from it). The
generator's test folds are its own; no benchmark's test fold is read.
"""
from __future__ import annotations

import argparse
import itertools
import time

import pandas as pd
from regimes import GRID  # bench/ is the script's directory

from ildl import runner

METHODS = ("ldl-kl+la", "ldl-kl+la+shrink", "ldl-kl+pc+shrink", "ofr-db+la+shrink")
SPLITS = ("random", "boundary")
QUICK = [(1.0, 10.0, 0.85), (0.3, 10.0, 0.7)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    grid = QUICK if a.quick else list(itertools.product(*GRID.values()))
    t0, frames = time.perf_counter(), []
    for signal, skew, dom in grid:
        kw = dict(signal=signal, skew=skew, dominance=dom)
        for split in SPLITS:
            rows = pd.DataFrame(runner.run(dict(dataset="synthetic", dataset_kw=kw, methods=["uniform", *METHODS],
                                                fold_ids=[0, 1, 2], val_split=split, step_events=False)))
            rows["regime"], rows["split"] = f"signal {signal:g} skew {skew:g} dominance {dom:g}", split
            frames.append(rows)
        print(f"  signal {signal:g} skew {skew:g} dominance {dom:g}: {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.concat(frames, ignore_index=True)
    if "shrink_lambda" not in df:
        df["shrink_lambda"] = float("nan")
    mean = df.groupby(["split", "regime", "method"])[["kl", "chebyshev"]].mean()
    out = []
    for split in SPLITS:
        uni = mean.loc[split].xs("uniform", level="method")
        for m in METHODS:
            mm = mean.loc[split].xs(m, level="method")
            d = df[(df["split"] == split) & (df["method"] == m)]
            out.append(dict(method=m, split=split, kl=d["kl"].mean(), chebyshev=d["chebyshev"].mean(),
                            mean_lambda=d["shrink_lambda"].mean(),
                            beats_uniform=int(((mm["kl"] < uni["kl"]) & (mm["chebyshev"] < uni["chebyshev"])).sum())))
    t = pd.DataFrame(out).set_index(["method", "split"])
    print(f"\nsynthetic generator, {len(grid)} regimes × folds 0–2, ILDL protocol, default rule; "
          f"{time.perf_counter() - t0:.0f} s")
    print("mean test kl / chebyshev over (regime, fold); mean λ of +shrink; regimes (of "
          f"{len(grid)}) where the method beats the uniform predictor on both")
    print(t.round(4).to_string())
    for m in METHODS:
        if not m.endswith("+shrink"):
            continue
        r, b = t.loc[(m, "random")], t.loc[(m, "boundary")]
        helps = b["kl"] < r["kl"] and b["beats_uniform"] >= r["beats_uniform"]
        print(f"{m}: boundary validation {'helps' if helps else 'does not help'} (kl {r['kl']:.4f} → {b['kl']:.4f}, "
              f"beats uniform in {int(r['beats_uniform'])} → {int(b['beats_uniform'])} regimes)")
    print(f"command: python bench/val_split.py{' --quick' if a.quick else ''}; {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
