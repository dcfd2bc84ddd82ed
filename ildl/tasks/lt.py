"""Task `lt`: long-tailed classification under label shift; the folds are seeds (each its own long-tailed draw)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import labelshift as LT
from ..config import Param
from .base import Fold, Task

METRICS = ("acc", "acc_many", "acc_medium", "acc_few")


class LTTask(Task):
    name = "lt"
    title = "Long-tailed classification (label shift)"
    metrics = METRICS
    table_metrics = METRICS
    lower_is_better = {m: False for m in METRICS}
    default_folds = 3
    fold_word = "seed"
    protocols = ("seeds",)
    datasets = ("digits-lt", "synthetic-lt")
    default_method = "lade"
    outputs = "logits"
    reference = "ce"  # plain cross-entropy under the same test prior
    run_fields = ("test_priors",)
    blurb = ("LADE / PC softmax — Hong et al., CVPR 2021; evaluated under uniform, forward and backward "
             "long-tailed test priors (the folds are seeds).")
    options = (Param("imbalance", "float", 100.0, "training imbalance ratio n_max / n_min", 1.0, 1000.0, log=True),)
    row_keys = ("test_prior",)

    def run_extras(self, options: dict[str, Any]) -> dict[str, Any]:
        R = f"{options['imbalance']:g}"
        return {"test_priors": ["uniform", f"forward{R}", f"backward{R}"]}

    def check_run(self, run: dict[str, Any]) -> None:
        priors = run.get("test_priors") or ["uniform"]
        if not isinstance(priors, (list, tuple)) or not priors:
            raise ValueError("test_priors must be a non-empty list")
        for p in priors:
            LT.test_prior(p, None)  # the spelling; the size is checked against the data's classes in `folds`

    def load(self, name: str, **kw: Any) -> str:
        if name not in self.datasets:
            raise ValueError(f"unknown long-tailed dataset '{name}' ({', '.join(self.datasets)})")
        return name

    def dims(self, data: str, options: dict[str, Any]) -> dict[str, int]:
        d = LT.load_lt(data, options["imbalance"], 0)
        return dict(d=d.X_train.shape[1], C=d.n_classes)

    def folds(self, data: str, run: dict[str, Any], options: dict[str, Any]) -> list[Fold]:
        out = []
        for seed in range(run["folds"]):
            d = LT.load_lt(data, options["imbalance"], seed)
            priors = {p: LT.test_prior(p, d.n_classes) for p in (run.get("test_priors") or ["uniform"])}
            out.append(Fold(
                seed,
                x={"train": d.X_train, "val": np.zeros((0, d.X_train.shape[1]), np.float32), "test": d.X_pool},
                y={"train": {"y": d.y_train.astype(np.int64)}, "val": {}, "test": {}},
                stats=dict(prior=d.prior, n=float(len(d.y_train))),
                ctx=dict(data=d, priors=priors, seed=seed, test_idx=np.arange(len(d.y_pool)))))
        return out

    def diag(self, fold: Fold, out: np.ndarray, cfg: dict[str, Any] | None = None) -> dict[str, float]:
        """Balanced-pool accuracy under a uniform test prior, scored with the model's *own* prediction rule (CE as
        is, PC compensated, LA / balanced softmax / LADE with log p_t) — the rule `evaluate` uses."""
        d = fold.ctx["data"]
        kind = (cfg or {}).get("kind", "ce")
        return dict(test_acc_uniform=LT.accuracy_under_prior(kind, out, d, np.full(d.n_classes, 1 / d.n_classes)))

    def evaluate(self, fold: Fold, out: np.ndarray, cfg: dict[str, Any], pc: bool = False, **_: Any) -> list[dict[str, Any]]:
        d, kind = fold.ctx["data"], cfg["kind"]
        rows = []
        for name, p_t in fold.ctx["priors"].items():
            idx = LT.shifted_test_set(d, p_t, fold.ctx["seed"])
            rows.append(dict(test_prior=name, **LT.accuracy(kind, out[idx], d.y_pool[idx], d, p_t)))
        rows[0]["_pred"] = out  # the balanced pool's logits: any test prior can be applied to them afterwards
        return rows
