"""Every study trained stacked (all configurations × folds as one computation) vs model by model, through the
same engine: wall time, speedup, and how far the two paths agree.

    python bench/ablation_speed.py                 # 10 folds, about 8–12 minutes on 2 CPU cores
    python bench/ablation_speed.py --folds 3       # a quick look
    python bench/ablation_speed.py --device cuda

One line per study: `speedup <study>-<dataset> N.Nx  (stacked S s, model by model Q s, max |Δ| E, k of n epochs
differ)`. Δ runs over every (configuration, fold, metric) of the models whose selected epoch is the same both
ways; k counts the models whose selected epoch differs — float rounding (a batched matmul sums in another
order) grows over hundreds of epochs and can tip a near-tie of validation scores. Also printed: this
machine's dense-matmul rate, for scale.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from ildl import runner, studies
from ildl.metrics import CONSTANT_PREDICTORS

CASES = [("amema", "synthetic"), ("amema", "Movie"), ("dildl", "Movie"), ("rda", "Movie")]


def matmul_rate(device: torch.device, n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def run(study: str, dataset: str, folds: int, batched: bool, device: str,
        epochs: int | None = None) -> tuple[float, dict, dict]:
    """One study's rows {(config, fold, prior, metric): value}, its wall time and every model's selected epochs;
    `epochs` overrides every configuration's (a quick run)."""
    best = {}

    def emit(e):
        if e["type"] == "fold" and e["config"] not in CONSTANT_PREDICTORS:
            best[(e["config"], e["fold"])] = e["best_epochs"]

    t0 = time.perf_counter()
    rows = runner.run(dict(study=study, dataset=dataset, fold_ids=list(range(folds)), batched=batched, device=device,
                           step_events=False, settings={"*": {"epochs": epochs}} if epochs else {}), emit=emit)
    secs = time.perf_counter() - t0
    metrics = studies.get(study).metrics
    return secs, {(r["config"], r["fold"], r.get("test_prior"), m): r[m] for r in rows for m in metrics
                  if r["config"] not in CONSTANT_PREDICTORS}, best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--only", help="comma-separated study-dataset cases, e.g. amema-synthetic,rda-Movie")
    ap.add_argument("--repeat", type=int, default=3,
                    help="time the short cases (AMEMA) this many times each way and keep the fastest — timeit's "
                         "convention: the minimum is the run least disturbed by the rest of the machine")
    a = ap.parse_args(argv)
    dev = runner.resolve_device(a.device)
    print(f"device {dev}, torch threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"dense matmul {matmul_rate(dev) / 1e9:.0f} GFLOP/s (1024², float32); {a.folds} folds")
    cases = [c for c in CASES if not a.only or f"{c[0]}-{c[1]}" in a.only.split(",")]
    for study, dataset in cases:
        n_models = len(studies.get(study).configs) * a.folds
        reps = a.repeat if study == "amema" else 1
        t_b, rb, eb = min((run(study, dataset, a.folds, True, a.device) for _ in range(reps)), key=lambda r: r[0])
        t_s, rs, es = min((run(study, dataset, a.folds, False, a.device) for _ in range(reps)), key=lambda r: r[0])
        same = {k for k in eb if eb[k] == es[k]}
        gaps = {}
        for k in rb:
            if k[:2] in same and np.isfinite(rb[k]) and np.isfinite(rs[k]):
                gaps[k[:2]] = max(gaps.get(k[:2], 0.0), abs(rb[k] - rs[k]))
        diff = max(gaps.values(), default=float("nan"))
        drift = sum(v > 1e-4 for v in gaps.values())
        print(f"speedup {study}-{dataset} {t_s / t_b:.1f}x  ({n_models} models: stacked {t_b:.1f} s, "
              f"model by model {t_s:.1f} s{f', fastest of {reps}' if reps > 1 else ''}, max |Δ| {diff:.1e}, "
              f"{drift} of {len(gaps)} models past 1e-4, "
              f"{len(eb) - len(same)} selected another epoch)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
