"""Common checks over every registered method (scikit-learn's check_estimator, for this registry): a stack of
models with different per-model values gives each model what it gets alone, and every declared parameter
refuses what it cannot take."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ildl import engine
from ildl.data import make_synthetic
from ildl.methods import REGISTRY
from ildl.tasks import get

DATA = {"ldl": None, "dir": "synthetic-dir", "lt": "synthetic-lt"}


def _task_data(task_name: str):
    task = get(task_name)
    if task_name == "ldl":
        data = make_synthetic(n=160, d=6, seed=3)
        run = dict(folds=5, seed=0)
    else:
        data = task.load(DATA[task_name])
        run = dict(folds=task.default_folds, seed=0, test_priors=["uniform"])
    opts = task.resolve_options({})
    folds = task.folds(data, run, opts)[:1]
    return task, folds, task.dims(data, opts)


def _varied(entry, rng) -> list[dict]:
    """Three configurations that differ in every knob a stack may mix (not a shape key): floats drawn around
    their default, bools and choices at random."""
    shape = set(entry.cls.shape_keys)
    out = []
    for _ in range(3):
        cfg = {}
        for p in entry.schema():
            if p.name in shape or p.name in ("log_every",):
                continue
            if p.kind == "float" and p.default not in (None,) and isinstance(p.default, float):
                lo = p.min if p.min is not None else -math.inf
                hi = p.max if p.max is not None else math.inf
                v = p.default * rng.uniform(0.6, 1.4) if p.default else rng.uniform(0.0, 0.2)
                cfg[p.name] = float(min(max(v, lo), hi))
            elif p.kind == "bool":
                cfg[p.name] = bool(rng.integers(2))
            elif p.kind == "choice":
                cfg[p.name] = p.choices[int(rng.integers(len(p.choices)))]
        cfg["epochs"] = 2
        out.append(cfg)
    return out


@pytest.mark.parametrize("name", list(REGISTRY))
def test_a_stack_of_different_settings_equals_each_model_alone(name):
    entry = REGISTRY[name]
    task, folds, dims = _task_data(entry.task)
    rng = np.random.default_rng(sum(map(ord, name)))
    cfgs = _varied(entry, rng)
    jobs = []
    for i, c in enumerate(cfgs):
        js = engine.make_jobs(task, folds, dims, [name], {name: c}, seed=i)
        for j in js:
            j.tag = {**j.tag, "config": i}
        jobs += js
    assert len({engine.stack_key(j) for j in jobs}) == 1, "the three share one stack"
    stacked = engine.execute(task, jobs, device=torch.device("cpu"), step_events=False)
    alone = engine.execute(task, jobs, device=torch.device("cpu"), step_events=False, batched=False)
    for a, b in zip(sorted(stacked, key=lambda r: r.job.tag["config"]), sorted(alone, key=lambda r: r.job.tag["config"])):
        for ra, rb in zip(a.rows, b.rows):
            for m in task.metrics:
                va, vb = ra.get(m), rb.get(m)
                if isinstance(va, float) and math.isfinite(va):
                    assert va == pytest.approx(vb, rel=1e-4, abs=1e-5), (name, a.job.tag["config"], m)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_declared_parameter_refuses_what_it_cannot_take(name):
    entry = REGISTRY[name]
    for p in entry.schema():
        bad = {"float": [float("nan"), float("inf"), "abc"], "int": [1.5, float("nan"), "x"],
               "bool": ["maybe", 2.5], "choice": ["no-such-choice"]}[p.kind]
        if p.kind in ("float", "int") and p.max is not None:
            bad.append(p.max + (1 if p.kind == "int" else abs(p.max) + 1.0))
        if p.kind in ("float", "int") and p.min is not None:
            bad.append(p.min - (1 if p.kind == "int" else abs(p.min) + 1.0))
        for v in bad:
            with pytest.raises(ValueError, match=p.name):
                entry.config({p.name: v})
    with pytest.raises(ValueError, match="unknown parameter"):
        entry.config({"no_such_knob": 1})


@pytest.mark.parametrize("name", list(REGISTRY))
def test_predict_returns_what_its_task_reads(name):
    """Declared outputs match the task; the test predictions a trained model hands the task have that form:
    distributions (n, C) on the simplex, logits (n, C) finite, regression (n,) finite."""
    entry = REGISTRY[name]
    task, folds, dims = _task_data(entry.task)
    assert entry.cls.outputs == task.outputs, (name, entry.cls.outputs, task.outputs)
    jobs = engine.make_jobs(task, folds, dims, [name], {name: {"epochs": 2}}, seed=0)
    (res,) = engine.execute(task, jobs, device=torch.device("cpu"), step_events=False)
    p, n = np.asarray(res.pred, np.float64), folds[0].n("test")
    if task.outputs == "regression":
        assert p.shape == (n,) and np.isfinite(p).all()
    else:
        assert p.shape == (n, dims["C"]) and np.isfinite(p).all()
    if task.outputs == "distribution":
        assert (p >= 0).all() and np.allclose(p.sum(1), 1.0, atol=1e-5)


def test_the_registry_refuses_a_preset_the_method_does_not_read():
    from ildl.methods import register
    from ildl.methods.ldl_kl import LDLKL

    with pytest.raises(ValueError, match="declares no"):
        register("ldl-kl-x", LDLKL, criterion="soft")
    with pytest.raises(ValueError, match="taken"):
        register("ldl-kl", LDLKL)
    with pytest.raises(ValueError):
        register("ldl-kl-y", LDLKL, lr=-1.0)
    assert "ldl-kl-x" not in REGISTRY and "ldl-kl-y" not in REGISTRY


def test_mse_is_l2_only_and_l1_is_its_own_baseline():
    assert REGISTRY["mse"].config()["loss"] == "l2" and REGISTRY["l1"].config()["loss"] == "l1"
    with pytest.raises(ValueError, match="fixes loss"):
        REGISTRY["mse"].config({"loss": "l1"})
