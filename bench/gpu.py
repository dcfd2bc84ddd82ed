"""The GPU path in one prepared script (issue 21): the app's job runner on the device, stacked vs model by model
against the CPU, GPU vs CPU time, peak device memory, and the stack size at which the device saturates.

    pip install -e . && python bench/gpu.py      # on a CUDA machine: under 8 minutes on one GPU
    python bench/gpu.py --device cpu --quick     # the same checks, small, on the CPU (run by the test suite)

Printed, one block per check:
  (a) a job trains on the device in its background thread while a reader polls its events (what a page does);
  (b) the AMEMA, DILDL and RDA studies stacked and model by model on the device, each against the CPU stack
      (max |Δ| over every configuration × fold × metric whose selected epoch agrees);
  (c) device vs CPU wall time for the same stacks;
  (d) peak device memory (CUDA only);
  (e) AMEMA stacks of M = 1 … 1024 synthetic models: model-steps per second, and the M past which doubling the
      stack gains less than 10% throughput (the saturation point);
  (f) the six classic LDL learners (full-batch L-BFGS / ADMM / Adam stacks, float64) on the device against the
      CPU: max |Δ| of every metric and the wall times.
The last line is `gpu check ok` when every check held (a job finished, agreement ≤ 1e-3 where epochs agree).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from ablation_speed import run as run_study

from ildl import runner
from ildl.engine import Trainer
from ildl.jobs import JobRegistry
from ildl.methods import Batch, parse
from ildl.runs import RunStore

TOLERANCE = 1e-3


def check_job(device: str, epochs: int, tmp: Path) -> bool:
    reg = JobRegistry(RunStore(tmp), max_running=1)
    job = reg.submit(dict(dataset="synthetic", methods=["uniform", "amema"], fold_ids=[0, 1], device=device,
                          settings={"amema": {"epochs": epochs}}), owner="bench")
    polls, seen = 0, 0
    while job.running:
        v = reg.view(job.id)
        seen = max(seen, len(v["steps"]) + len(v["events"]))
        polls += 1
        time.sleep(0.05)
    job.join(30)
    v = reg.view(job.id)
    dev = next((e.get("device") for e in v["events"] if e["type"] == "start"), "?")
    print(f"(a) job {job.id}: {job.status} on {dev} in its thread; the reader polled {polls}× and saw up to {seen} "
          f"events while it trained, {len(v['rows'])} result rows")
    return job.status == "done" and str(dev).startswith(device.split(":")[0])


def agreement(a: dict, b: dict, ea: dict, eb: dict) -> tuple[float, int]:
    same = {k for k in ea if ea.get(k) == eb.get(k)}
    gaps = [abs(a[k] - b[k]) for k in a if k[:2] in same and k in b and np.isfinite(a[k]) and np.isfinite(b[k])]
    return max(gaps, default=float("nan")), len(ea) - len(same)


def saturation(device: torch.device, sizes: list[int], steps: int) -> list[tuple[int, float]]:
    spec = parse("amema")
    cfg = spec.config({"hidden": 100})
    dims = dict(d=64, C=5)
    stats = dict(label_mass=np.ones(5), prior=np.full(5, 0.2), n=64.0)
    out = []
    for M in sizes:
        tr = Trainer(spec.entry.cls, [cfg] * M, [stats] * M, dims, list(range(M)), device)
        x = torch.rand(M, 64, 64, device=device)
        y = torch.softmax(torch.randn(M, 64, 5, device=device), -1)
        b = Batch(x=x, y={"y": y}, mask=torch.ones(M, 64, dtype=torch.bool, device=device))
        tr.step(b)  # warm-up (kernels, allocator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            tr.step(b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append((M, M * steps / (time.perf_counter() - t0)))
        del tr
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small data, 2 folds, few epochs, M ≤ 16")
    a = ap.parse_args(argv)
    dev = runner.resolve_device(a.device)
    device = str(dev)
    folds, epochs = (2, 3) if a.quick else (10, None)
    cuda = dev.type == "cuda"
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(dev)})" if cuda else "") + f", torch {torch.__version__}")
    import tempfile

    ok = check_job(device, 5 if a.quick else 200, Path(tempfile.mkdtemp()))
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    cases = [("amema", "synthetic"), ("dildl", "synthetic"), ("rda", "synthetic")] if a.quick else \
        [("amema", "Movie"), ("dildl", "Movie"), ("rda", "Movie")]
    for study, dataset in cases:
        kw = dict(epochs=epochs) if epochs else {}
        t_cpu, r_cpu, e_cpu = run_study(study, dataset, folds, True, "cpu", **kw)
        t_dev, r_dev, e_dev = run_study(study, dataset, folds, True, device, **kw)
        t_one, r_one, e_one = run_study(study, dataset, folds, False, device, **kw)
        gap_cpu, moved = agreement(r_dev, r_cpu, e_dev, e_cpu)
        gap_one, moved1 = agreement(r_dev, r_one, e_dev, e_one)
        ok &= not (gap_cpu > TOLERANCE) and not (gap_one > TOLERANCE)
        print(f"(b) {study}-{dataset}: stacked vs model by model on {device} max |Δ| {gap_one:.1e} "
              f"({moved1} selected another epoch); vs the CPU stack max |Δ| {gap_cpu:.1e} ({moved} another epoch)")
        print(f"(c) {study}-{dataset}: {device} stacked {t_dev:.1f} s, model by model {t_one:.1f} s; "
              f"CPU stacked {t_cpu:.1f} s → {t_cpu / t_dev:.1f}× the CPU")
    if cuda:
        print(f"(d) peak {device} memory {torch.cuda.max_memory_allocated(dev) / 2**20:.0f} MB")
    else:
        print("(d) peak device memory: not measured on the CPU")
    sizes = [1, 2, 4, 8, 16] if a.quick else [1, 4, 16, 64, 256, 1024]
    rates = saturation(dev, sizes, 3 if a.quick else 20)
    print("(e) AMEMA model-steps/s by stack size: " + ", ".join(f"M={m}: {r:,.0f}" for m, r in rates))
    sat = next((m for (m, r), (_, r2) in zip(rates, rates[1:]) if r2 < 1.1 * r), None)
    print(f"(e) saturates at about M = {sat} (the next size gains < 10% throughput)" if sat else
          f"(e) does not saturate up to M = {rates[-1][0]} (every larger stack gained ≥ 10% throughput)")
    from ildl.methods import expand

    cfg = dict(dataset="synthetic" if a.quick else "Movie", methods=expand(["classic"]), fold_ids=[0, 1],
               step_events=False, settings={m: {"epochs": 3} for m in expand(["classic"])} if a.quick else {})
    t0 = time.perf_counter()
    cpu_rows = runner.run(dict(cfg, device="cpu"))
    t_cpu = time.perf_counter() - t0
    t0 = time.perf_counter()
    dev_rows = runner.run(dict(cfg, device=device))
    t_dev = time.perf_counter() - t0
    key = lambda r: (r["method"], r["fold"])  # noqa: E731
    ref = {key(r): r for r in cpu_rows}
    gap = max(abs(r[m] - ref[key(r)][m]) for r in dev_rows for m in ("chebyshev", "kl", "cosine"))
    ok &= gap <= TOLERANCE
    print(f"(f) classic learners, {cfg['dataset']} folds 0–1: {device} {t_dev:.1f} s, CPU {t_cpu:.1f} s; "
          f"max |Δ| {gap:.1e}")
    print("gpu check ok" if ok else "gpu check FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
