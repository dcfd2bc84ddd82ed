"""The Task protocol: what differs between label distributions (ldl), imbalanced regression (dir) and
long-tailed classification (lt) — data, folds, metrics, evaluation — declared once, so that jobs, the CLI,
studies and pages ask the registry instead of branching on a task's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from ..config import TIME_COLUMNS, Param, resolve


@dataclass
class Fold:
    """One fold (or seed) of a task, ready to train on.

    x: 'train' / 'val' / 'test' → features (n, d) float32, scaled on the training part only.
    y: the same splits → target fields {name: (n, …)} in the form the task's methods read.
    stats: what a method may know about its training part (label mass, priors, …) — never the test part.
    ctx: what the task's evaluation needs (true test targets, head labels, …) — never given to a method.
    """
    id: int
    x: dict[str, np.ndarray]
    y: dict[str, dict[str, np.ndarray]]
    stats: dict[str, Any]
    ctx: dict[str, Any] = field(default_factory=dict)

    def n(self, split: str) -> int:
        return len(self.x[split])


class Task:
    name: ClassVar[str]
    title: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]  # every metric a result row carries
    table_metrics: ClassVar[tuple[str, ...]]  # the ones tables show by default
    lower_is_better: ClassVar[dict[str, bool]]
    default_folds: ClassVar[int]
    fold_word: ClassVar[str] = "fold"  # "seed" for the seeds protocol
    protocols: ClassVar[tuple[str, ...]]
    select_rules: ClassVar[tuple[str, ...]] = ("last",)
    datasets: ClassVar[tuple[str, ...]]  # offered in pickers; the first is the default
    options: ClassVar[tuple[Param, ...]] = ()  # the task's own run options (widgets are built from them)
    row_keys: ClassVar[tuple[str, ...]] = ()  # extra key columns of a result row (lt: test_prior)
    info_columns: ClassVar[tuple[str, ...]] = ()  # per-row facts that are not metrics (ldl: the shrinkage λ chosen)
    pad: ClassVar[dict[str, float]] = {}  # padding value per target field (a valid target, so losses stay finite)
    blurb: ClassVar[str] = ""  # one paragraph for the pages: the papers and how the task is evaluated
    default_method: ClassVar[str] = ""
    outputs: ClassVar[str]  # what its methods' `predict` returns: distribution | regression | logits
    reference: ClassVar[str]  # the row a verdict measures every method against (`ildl.report.compare`)
    constant_methods: ClassVar[tuple[str, ...]] = ()  # predictors with nothing to train, beside every study
    run_fields: ClassVar[tuple[str, ...]] = ()  # run-level fields only this task reads (checked in `check_run`)
    load_options: ClassVar[tuple[str, ...]] = ()  # keyword arguments `load` takes for a file (ldl: label_columns)
    dataset_params: ClassVar[dict[str, tuple[Param, ...]]] = {}  # a generator's knobs, by dataset name
    grouped_table: ClassVar[bool] = False  # whether a run's results also print grouped as the papers' tables
    prior_corrections: ClassVar[tuple[str, ...]] = ()  # name suffixes that correct a method's label prior
    method_groups: ClassVar[dict[str, str]] = {}  # words that stand for several methods (ldl: classic, ildl, …)
    # the method to start with on a new dataset, and the measured lines behind it (`python -m ildl methods`)
    recommended: ClassVar[str | None] = None
    advice: ClassVar[tuple[str, ...]] = ()

    def run_extras(self, options: dict[str, Any]) -> dict[str, Any]:
        """Run-level settings a task derives from its options (lt: the test priors it reports)."""
        return {}

    # -- configuration ---------------------------------------------------------------
    def expand(self, names: list[str]) -> list[str]:
        """Method names with the task's group words replaced by their members."""
        return list(names)

    @property
    def several_rules(self) -> bool:
        """Whether runs may report more than one model-selection rule (a task with validation data)."""
        return len(self.select_rules) > 1

    def resolve_options(self, given: dict[str, Any]) -> dict[str, Any]:
        return resolve(self.options, {k: v for k, v in given.items() if k in {p.name for p in self.options}})

    def check_run(self, run: dict[str, Any]) -> None:
        """Validate the run-level fields this task reads (raise ValueError with a clear message)."""

    @property
    def columns(self) -> tuple[str, ...]:
        return ("method", "fold", *self.row_keys, "select", *self.metrics, *self.info_columns, *TIME_COLUMNS)

    # -- data ------------------------------------------------------------------------
    def load(self, name: str, **kw: Any) -> Any:
        raise NotImplementedError

    def folds(self, data: Any, run: dict[str, Any], options: dict[str, Any]) -> list[Fold]:
        raise NotImplementedError

    def dims(self, data: Any, options: dict[str, Any]) -> dict[str, int]:
        raise NotImplementedError

    # -- evaluation (the fold's ctx holds the truth; methods never see it) ------------
    def val_record(self, fold: Fold, out: Any) -> dict[str, float]:
        return {}

    def diag(self, fold: Fold, out: Any, cfg: dict[str, Any] | None = None) -> dict[str, float]:
        """Test metrics of one epoch's outputs (a diagnostic no selection rule reads); `cfg` the model's config."""
        raise NotImplementedError

    def combine(self, outs: Sequence[Any]) -> Any:
        """One prediction from an ensemble's member outputs (each as `evaluate` takes it). Only a task whose
        common parameters declare `ensemble` defines it: what averaging means depends on the outputs (a mean of
        distributions is a distribution; a mean of routed group ids is not a group)."""
        raise NotImplementedError(f"the {self.name} task has no ensemble")

    def evaluate(self, fold: Fold, out: Any, cfg: dict[str, Any], pc: bool = False, shrink_to: bool = False,
                 val: Any = None) -> list[dict[str, Any]]:
        """Result rows (metrics + row_keys) of one model's test outputs; `cfg` is the model's resolved config,
        `pc` whether its predictions are post-compensated, `shrink_to` whether they are shrunk toward the target
        prior with a strength chosen on `val` (the same model's validation outputs). Keys starting with '_' are for the caller only
        (saved predictions), not result columns."""
        raise NotImplementedError

    def constants(self, fold: Fold) -> list[dict[str, Any]]:
        """Rows of the constant predictors on this fold (tasks that have them)."""
        return []

    # -- reporting ---------------------------------------------------------------------
    def catalogue(self) -> list[str]:
        """Lines describing the datasets this task offers (`python -m ildl datasets`)."""
        return ["  " + ", ".join(self.datasets)]

    def watch(self, fold: Fold, k: int = 4) -> tuple[np.ndarray, list] | None:
        """(feature rows, their true targets) of a few test samples whose predictions the replay animates."""
        return None

