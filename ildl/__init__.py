"""ildl — imbalanced label-distribution learning: data, protocols, decoupling, metrics, methods, trainer.

A plain library (no UI imports): usable from a notebook, the CLI (`python -m ildl`) and the app.
"""
from .data import DataError, Dataset, load, make_synthetic
from .decouple import decouple, recombine
from .metrics import evaluate
from .protocol import make_protocol
from .runner import run, run_experiment

__all__ = ["DataError", "Dataset", "load", "make_synthetic", "decouple", "recombine", "evaluate",
           "make_protocol", "run", "run_experiment"]
