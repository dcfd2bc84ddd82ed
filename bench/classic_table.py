"""The papers' Table 1 layout on Movie: the six classic LDL learners over the 10 ILDL folds, with the constant
predictors beside them and the published figures in brackets; how long each learner's stack takes.

    python bench/classic_table.py [--folds 10] [--with-ildl]

Every learner trains its 10 folds as one stack (the engine, defaults, the default model-selection rule — as
every other method of the lab). The target of issue #22 is the whole six-learner table under two minutes on
2 CPU cores; the last line is `total N.N s`.
"""
from __future__ import annotations

import argparse
import time

import torch

from ildl import engine, report
from ildl.data import load
from ildl.methods import expand
from ildl.tasks import get


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--with-ildl", action="store_true", help="add the ILDL methods (slower: MLPs for 300 epochs)")
    a = ap.parse_args(argv)
    ds, task = load("Movie"), get("ldl")
    opts = task.resolve_options({})
    folds = task.folds(ds, dict(folds=10, seed=0), opts)[:a.folds]
    names = expand(["constants", "classic"] + (["ildl"] if a.with_ildl else []))
    rows, secs = [], {}
    t_all = time.perf_counter()
    for name in names:
        jobs = engine.make_jobs(task, folds, task.dims(ds, opts), [name], {}, 0)
        t0 = time.perf_counter()
        for r in engine.execute(task, jobs, device=torch.device("cpu"), step_events=False):
            rows += r.rows
        secs[name] = time.perf_counter() - t0
        if name not in ("uniform", "train_mean", "test_mean"):
            print(f"{name:<14}{secs[name]:>7.1f} s  ({len(folds)} folds, one stack)", flush=True)
    total = sum(v for k, v in secs.items() if k in expand(["classic"]))
    t = report.table(rows, dataset="Movie")
    print(f"\nMovie, ILDL protocol, {len(folds)} folds, default rule; mean ± std over folds, best in bold, "
          "[published: AMEMA paper, Tables 1–2]\n")
    print(report.markdown(t.drop(columns=[c for c in t.columns if c.startswith(("clark", "canberra"))],
                                 errors="ignore")))
    print(f"\n(wall {time.perf_counter() - t_all:.0f} s with the constants) python bench/classic_table.py")
    print(f"total {total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
