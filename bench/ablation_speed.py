"""AMEMA's 2×2 ablation (WEIG × MOME, 10 folds = 40 models), model by model vs batched, on two datasets:
the synthetic default (dense, d = 20) and Movie (d = 1869, 99% zeros).

Prints the wall times, the achieved model-FLOP rate (the dense-equivalent FLOPs of training and
evaluating the 40 models, divided by wall time) as a fraction of this machine's measured dense-matmul
rate, whether the two paths agree, and a last line `speedup synthetic N.Nx movie M.Mx`.

    python bench/ablation_speed.py [--device cpu|cuda] [--folds 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ildl.data import load  # noqa: E402
from ildl.methods import parse  # noqa: E402
from ildl.protocol import make_protocol  # noqa: E402
from ildl.studies import CONSTANTS, STUDIES, run_study  # noqa: E402
from ildl.trainer import method_config  # noqa: E402


def matmul_rate(device: torch.device, n: int = 1024, reps: int = 20) -> float:
    """Dense float32 matmul FLOP/s on this machine (all threads)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def model_flops(ds, folds: int) -> float:
    """Dense-equivalent FLOPs of the study: 2 branches × (6·P per training sample-step + 2·P per evaluated
    sample), P = d·h + h·C multiply-adds per sample, over 4 configs × folds."""
    cfg = method_config(parse("amema"), {})
    P = ds.d * cfg["hidden"] + cfg["hidden"] * ds.n_labels
    total = 0.0
    for s in make_protocol(ds, "ildl", folds=folds).splits:
        train = cfg["epochs"] * len(s.train) * 6 * P
        evaluate = (cfg["epochs"] * len(s.val) + len(s.test)) * 2 * P
        total += 2 * (train + evaluate)
    return total * len(STUDIES["amema"].configs)


def one(name: str, folds: int, device: str, rate: float) -> float:
    ds = load(name)
    out = {}
    for mode in ("sequential", "batched"):
        t = time.perf_counter()
        rows = run_study("amema", ds, folds=folds, batched=mode == "batched", device=device, step_events=False)
        out[mode] = (time.perf_counter() - t, [r for r in rows if r["config"] not in CONSTANTS])
    flops = model_flops(ds, folds)
    for mode, (sec, _) in out.items():
        print(f"{name:<10} {mode:<10} {sec:7.2f} s   model FLOP rate {flops / sec / 1e9:7.2f} GFLOP/s = "
              f"{flops / sec / rate:6.1%} of dense matmul")
    a = {(r["config"], r["fold"]): r for r in out["sequential"][1]}
    b = {(r["config"], r["fold"]): r for r in out["batched"][1]}
    diff = max(abs(a[k][m] - b[k][m]) for k in a for m in ("chebyshev", "kl", "cosine"))
    means = {c: np.mean([r["chebyshev"] for k, r in b.items() if k[0] == c]) for c in STUDIES["amema"].configs}
    print(f"{name:<10} agree: max |Δ| over (config, fold, metric) = {diff:.2e}; batched Chebyshev per config "
          + ", ".join(f"{c} {v:.4f}" for c, v in means.items()))
    return out["sequential"][0] / out["batched"][0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--folds", type=int, default=10)
    a = ap.parse_args()
    dev = torch.device(a.device)
    rate = matmul_rate(dev)
    print(f"device {dev} · {torch.get_num_threads()} threads · {os.cpu_count()} cores · dense matmul "
          f"{rate / 1e9:.1f} GFLOP/s (1024² float32)")
    s = one("synthetic", a.folds, a.device, rate)
    m = one("Movie", a.folds, a.device, rate)
    print(f"reproduce: python bench/ablation_speed.py --device {a.device} --folds {a.folds}")
    print(f"speedup synthetic {s:.1f}x movie {m:.1f}x")


if __name__ == "__main__":
    main()
