"""What a run will cost, estimated before it starts: models, optimiser steps, parameters, FLOPs, memory and time.

A server shared by a class must not accept a run that would take days or exhaust memory (issue: 20 000 × 2 000
synthetic, batch 1, 5 000 epochs, hidden 2 048 ≈ 90 M steps). The estimate counts, for every model of the plan,
epochs × ⌈n_train / batch⌉ steps and 6 × parameters FLOPs per training sample (forward 2, backward 4), plus the
stacked parameters, gradients and optimiser state in memory. It is an upper bound for sparse data (the first
layer skips zeros). Memory also counts what one step allocates (`Method.activation_bytes`: Group-DIR's contrastive
loss keeps (B, B) tensors per model), for the largest stack, since stacks train one after another. Limits come from the
environment (ILDL_JOB_FLOPS, ILDL_JOB_STEPS, ILDL_JOB_MEMORY_GB, ILDL_JOB_SECONDS — the estimated time, classroom
pace included).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from .engine import stack_key

STEP_SECONDS = 0.003  # Python and kernel-launch overhead of one optimiser step of a stack (measured: 2–5 ms)
CPU_FLOPS = 10e9  # what training achieves on a CPU core pair (measured 5–60 GFLOP/s dense-equivalent)
GPU_FLOPS = 1e12


def limits() -> dict[str, float]:
    return dict(flops=_env("ILDL_JOB_FLOPS", 1e14), steps=_env("ILDL_JOB_STEPS", 5e6),
                memory=_env("ILDL_JOB_MEMORY_GB", 4) * 2**30, seconds=_env("ILDL_JOB_SECONDS", 1800))


def _env(name: str, default: float) -> float:
    try:
        v = float(os.environ.get(name, default))
    except ValueError:
        return default
    return v if v > 0 and v == v else default


@dataclass
class Estimate:
    models: int
    steps: int  # optimiser steps summed over stacks (models in one stack step together)
    model_steps: int
    flops: float
    memory: float  # bytes of stacked parameters, gradients, optimiser state, checkpoints and one step's activations
    seconds: float

    def text(self) -> str:
        t = self.seconds
        when = f"{t:.0f} s" if t < 120 else f"{t / 60:.0f} min" if t < 7200 else f"{t / 3600:.1f} h"
        return (f"{self.models} model{'s' if self.models != 1 else ''}, {self.model_steps:,} model-steps, "
                f"≈ {self.flops / 1e12:.2g} TFLOP, ≈ {self.memory / 2**20:.0f} MB, about {when} here")

    def problems(self) -> list[str]:
        lim = limits()
        out = []
        if self.flops > lim["flops"]:
            out.append(f"≈ {self.flops / 1e12:.3g} TFLOP of training is over this server's limit of "
                       f"{lim['flops'] / 1e12:.3g} TFLOP")
        if self.model_steps > lim["steps"]:
            out.append(f"{self.model_steps:,} optimiser steps are over this server's limit of {lim['steps']:,.0f}")
        if self.memory > lim["memory"]:
            out.append(f"≈ {self.memory / 2**30:.1f} GB of memory (model state and one step's activations) is over "
                       f"this server's limit of {lim['memory'] / 2**30:.1f} GB")
        if self.seconds > lim["seconds"]:
            out.append(f"about {self.seconds / 60:.0f} min of training (pace included) is over this server's limit "
                       f"of {lim['seconds'] / 60:.0f} min per run (ILDL_JOB_SECONDS)")
        return out


def estimate(jobs: Sequence[Any], device: str = "cpu", pace: float = 0.0) -> Estimate:
    """The cost of a plan (`ildl.engine.ModelJob`s): models are grouped as the engine stacks them."""
    stacks: dict[tuple, list] = {}
    for j in jobs:
        if not j.spec.constant:
            stacks.setdefault(stack_key(j), []).append(j)
    steps = model_steps = 0
    flops = memory = paced = peak = 0.0
    for group in stacks.values():
        cls = group[0].spec.entry.cls
        n_params = _params(cls, group[0].cfg, {**group[0].dims, "n": max(1, max(j.fold.n("train") for j in group))})

        def batch(j, full=cls.full_batch) -> int:  # a full-batch solver takes the whole fold per iteration
            return max(1, j.fold.n("train")) if full else j.cfg["batch_size"]
        rules = 3  # checkpoints kept per selection rule, at most
        members = [int(j.cfg.get("ensemble", 1)) for j in group]  # an ensemble's members are models of the stack
        memory += sum(members) * n_params * 4 * (1 + 1 + 3 + rules)
        peak = max(peak, sum(k * cls.activation_bytes(j.cfg, j.dims) for j, k in zip(group, members)))
        for j, k in zip(group, members):
            n = max(1, j.fold.n("train"))
            per_epoch = math.ceil(n / batch(j))
            model_steps += k * j.cfg["epochs"] * per_epoch
            flops += k * 6.0 * n_params * n * j.cfg["epochs"]
        steps += max(j.cfg["epochs"] * math.ceil(max(1, j.fold.n("train")) / batch(j)) for j in group)
        paced += pace * max(j.cfg["epochs"] for j in group)
    rate = GPU_FLOPS if str(device).startswith("cuda") else CPU_FLOPS
    return Estimate(sum(int(j.cfg.get("ensemble", 1)) for g in stacks.values() for j in g), steps, model_steps, flops, memory + peak,
                    max(steps * STEP_SECONDS + flops / rate, paced))


def _params(cls, cfg: dict[str, Any], dims: dict[str, int]) -> int:
    """Parameters of one model, counted on the meta device (nothing is allocated)."""
    method = cls([cfg], [{}], dims, torch.device("meta"))
    with torch.device("meta"):
        return sum(p.numel() for p in method.build().parameters())
