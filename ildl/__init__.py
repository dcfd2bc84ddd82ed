"""ildl — imbalanced label-distribution learning: data, protocols, decoupling, metrics, methods, trainer.

A plain library (no UI imports): usable from a notebook, the CLI (`python -m ildl`) and the app.
"""
from importlib import import_module
from typing import Any

from .data import DataError, Dataset, load, make_synthetic
from .metrics import evaluate

# torch and scikit-learn load on first use: `from ildl import data` (the app's first page) stays light
_LAZY = {"decouple": "decouple", "recombine": "decouple", "make_protocol": "protocol", "run": "runner",
         "run_experiment": "runner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ildl' has no attribute {name!r}")

__all__ = ["DataError", "Dataset", "load", "make_synthetic", "decouple", "recombine", "evaluate",
           "make_protocol", "run", "run_experiment"]
