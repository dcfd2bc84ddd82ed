"""The five ILDL benchmarks that are not bundled, at their published sizes: does the CLI run them end to end,
how long does it take and how much memory does it hold? Stand-ins only — the real files are not here.

    python bench/benchmark_shapes.py           # 5 stand-ins × 10 folds × 3 methods, about 6 minutes on 2 CPU cores
    python bench/benchmark_shapes.py --quick   # folds 0–1

Each stand-in has the benchmark's sample count, feature dimension and label count (the papers' dataset tables),
features N(0, 1) and label distributions softmax(x·W + noise + a descending offset), written as a `.mat` under the
file name the benchmark is commonly distributed with (so the published filter is found from the name, as it would
be for the real file). Each runs in a fresh `python -m ildl run` process: the wall time is that process's,
peak memory its maximum resident set. The metrics say only that the pipeline works at that size — these labels
are not the benchmark's, so no figure here is a result on it.
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io as sio

from ildl.data import known_thresholds

# file name as distributed, samples, features, labels
SHAPES = [("SCUT_FBP.mat", 1500, 300, 5), ("Emotion6.mat", 1980, 168, 7), ("Flickr_LDL.mat", 11150, 200, 8),
          ("RAF_ML.mat", 4908, 200, 6), ("Natural_Scene.mat", 2000, 294, 9)]
METHODS = "uniform,ldl-kl+la+shrink,ofr-db+la"
# `python -m ildl …` in a child that reports its own peak resident set on its last stderr line
CHILD = ("import resource, sys\nfrom ildl.cli import main\nrc = main(sys.argv[1:])\n"
         "print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(rc)")


def stand_in(path: Path, n: int, d: int, L: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    z = X @ (rng.standard_normal((d, L)) * 0.15) + rng.standard_normal((n, L)) * 0.8 + np.linspace(1, 0, L)
    Y = np.exp(z - z.max(1, keepdims=True))
    sio.savemat(path, dict(features=X, labels=Y / Y.sum(1, keepdims=True)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="folds 0–1 only")
    a = ap.parse_args(argv)
    rows, t_all = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for k, (fn, n, d, L) in enumerate(SHAPES):
            path, out = Path(tmp) / fn, Path(tmp) / (fn + ".csv")
            stand_in(path, n, d, L, k)
            cmd = [sys.executable, "-c", CHILD, "run", "--dataset", str(path), "--method", METHODS, "--out", str(out),
                   "--no-save", "--quiet", *(["--only-folds", "0,1"] if a.quick else [])]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            peak = float(proc.stderr.split("peak_kb")[-1]) / 1024 if "peak_kb" in proc.stderr else float("nan")
            if proc.returncode != 0:
                print(f"{fn}: failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
                return 1
            res = list(csv.DictReader(out.open()))
            cheb = {m: np.mean([float(r["chebyshev"]) for r in res if r["method"] == m]) for m in METHODS.split(",")}
            folds = len({r["fold"] for r in res})
            known = known_thresholds(path.stem)  # what the run used: the protocol fails without it
            rows.append((fn, n, d, L, folds, wall, peak, cheb, f"{known[0]} {','.join(f'{v:g}' for v in known[1])}"))
            print(f"  {fn}: {wall:.0f} s", flush=True)
    print(f"\nstand-ins at the benchmarks' sizes, {METHODS}, ILDL protocol, default rule; "
          f"{time.perf_counter() - t_all:.0f} s")
    print(f"{'file':<18} {'n':>6} {'d':>4} {'L':>2} {'folds':>5} {'wall s':>7} {'peak MB':>8}  "
          f"{'filter from the file name':<28} Chebyshev " + " / ".join(METHODS.split(",")))
    for fn, n, d, L, folds, wall, peak, cheb, note in rows:
        print(f"{fn:<18} {n:>6} {d:>4} {L:>2} {folds:>5} {wall:>7.0f} {peak:>8.0f}  {note:<28} "
              + " / ".join(f"{v:.3f}" for v in cheb.values()))
    print("wall s: the whole process (imports, loading, 10-fold protocol, training, CSV); peak MB: its largest "
          "resident set")
    print(f"command: python bench/benchmark_shapes.py{' --quick' if a.quick else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
