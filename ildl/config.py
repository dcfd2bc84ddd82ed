"""Declared controls: every tunable knob is a `Param` declared once.

The CLI (`--set key=value`), the app's widgets and the saved run config are all built from these
declarations, so a default or a range lives in exactly one place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int" | "float" | "bool" | "choice"
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: Sequence[Any] = field(default_factory=tuple)
    log: bool = False  # suggest a log-scale slider

    def coerce(self, value: Any) -> Any:
        """Turn a CLI string or widget value into the declared type, checking the range."""
        v = value
        try:
            if hasattr(v, "item") and getattr(v, "shape", None) == ():  # a numpy scalar: its Python value
                v = v.item()
            if self.kind == "bool":
                if isinstance(v, str):
                    s = v.strip().lower()
                    if s in ("1", "true", "yes", "on"):
                        v = True
                    elif s in ("0", "false", "no", "off"):
                        v = False
                    else:
                        raise ValueError
                elif not isinstance(v, bool):  # 0 / 1 only: 2.5 or NaN is not a switch position
                    if not isinstance(v, (int, float)) or v not in (0, 1):
                        raise ValueError
                v = bool(v)
            elif self.kind == "int":
                if isinstance(v, bool):
                    raise ValueError
                if isinstance(v, str):
                    v = float(v)
                if not math.isfinite(float(v)) or float(v) != int(float(v)):
                    raise ValueError
                v = int(v)
            elif self.kind == "float":
                if isinstance(v, bool):
                    raise ValueError
                v = float(v)
                if not math.isfinite(v):
                    raise ValueError
            elif self.kind == "choice":
                v = str(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else v
                if v not in self.choices:
                    raise ValueError
        except (TypeError, ValueError):
            exp = f"one of {list(self.choices)}" if self.kind == "choice" else \
                f"a finite {'integer' if self.kind == 'int' else 'number'}" if self.kind in ("int", "float") else "a bool"
            raise ValueError(f"parameter '{self.name}': expected {exp}, got {value!r}") from None
        if self.kind in ("int", "float"):
            if self.min is not None and v < self.min or self.max is not None and v > self.max:
                raise ValueError(f"parameter '{self.name}' = {v} is outside [{self.min}, {self.max}]")
        return v


def resolve(params: Iterable[Param], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with `overrides`; unknown names are an error (a typo must not pass silently)."""
    params = list(params)
    by_name = {p.name: p for p in params}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(by_name)}")
    return {p.name: p.coerce(overrides[p.name]) if p.name in overrides else p.default for p in params}


def parse_sets(items: Sequence[str] | None) -> dict[str, str]:
    """`["alpha=0.6", "weig=false"]` -> {"alpha": "0.6", "weig": "false"} (coerced later by `resolve`)."""
    out: dict[str, str] = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# Training knobs shared by every method of a task (a method may override a default, never drop a knob).
DEFAULT_TASK = "ldl"  # the task of a config that names none (every saved run before tasks existed)
# the time columns of a result row: a model's share of its stack's wall time, the stack's size and wall time
TIME_COLUMNS = ("seconds", "stack", "stack_seconds")

COMMON: dict[str, tuple[Param, ...]] = {
    # ILDL (spec §3: hidden 100, 300 epochs, batch 50, lr 1e-3)
    "ldl": (
        Param("epochs", "int", 300, "passes over the (small) imbalanced training set", 1, 5000, 1),
        Param("batch_size", "int", 50, "mini-batch size", 1, 4096, 1),
        Param("lr", "float", 1e-3, "learning rate", 1e-5, 1.0, log=True),
        Param("weight_decay", "float", 1e-2, "weight decay (AdamW's default)", 0.0, 1.0),
        Param("hidden", "int", 100, "hidden width of every MLP", 4, 2048, 1),
        Param("log_every", "int", 1, "emit a step event every k optimiser steps", 1, 10000, 1),
        Param("la_tau", "float", 0.0, "logit adjustment τ (spec §3b): train on z + τ·log p_s, predict with z + log p_t "
              "(p_s the training prior, p_t uniform unless given); 0 = off, the '+la' names set 1", 0.0, 2.0, 0.1),
        Param("ensemble", "int", 1, "models per fold, each from its own seed (initialisation, batch order), their "
              "predicted distributions averaged; by convexity never worse than the members' mean KL or Chebyshev",
              1, 16, 1),
    ),
    # imbalanced regression (Group-DIR and its baselines)
    "dir": (
        Param("epochs", "int", 60, "passes over the training fold", 1, 2000, 1),
        Param("batch_size", "int", 64, "mini-batch size", 2, 4096, 1),
        Param("lr", "float", 1e-3, "AdamW learning rate", 1e-5, 1.0, log=True),
        Param("weight_decay", "float", 1e-4, "AdamW weight decay", 0.0, 1.0),
        Param("hidden", "int", 128, "encoder width (the representation z)", 4, 2048, 1),
        Param("log_every", "int", 1, "emit a step event every k optimiser steps", 1, 10000, 1),
    ),
    # long-tailed classification under label shift
    "lt": (
        Param("epochs", "int", 60, "passes over the long-tailed training set", 1, 2000, 1),
        Param("batch_size", "int", 64, "mini-batch size", 2, 4096, 1),
        Param("lr", "float", 1e-3, "Adam learning rate", 1e-5, 1.0, log=True),
        Param("weight_decay", "float", 0.0, "weight decay (Adam's default 0)", 0.0, 1.0),
        Param("hidden", "int", 128, "hidden width", 4, 2048, 1),
        Param("log_every", "int", 1, "emit a step event every k optimiser steps", 1, 10000, 1),
    ),
}
