"""Task `dir`: deep imbalanced regression (Group-DIR and its baselines), K-fold over a set with a target."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from ..config import Param
from ..data import DataError
from ..protocol import Scaler
from ..regression import (
    SYNTHETIC_DIR_PARAMS,
    dir_metrics,
    group_edges,
    group_of,
    lds_weights,
    load_dir,
    target_bins,
    targets_of,
)
from .base import Fold, Task

METRICS = ("mae", "gm", "mae_many", "mae_medium", "mae_few", "gm_many", "gm_medium", "gm_few", "group_acc")
MAX_GROUPS = 200  # |G| × |G| soft-label targets per model: keep them small


class DIRTask(Task):
    name = "dir"
    title = "Imbalanced regression (Group-DIR)"
    metrics = METRICS
    table_metrics = ("mae", "gm", "mae_many", "mae_medium", "mae_few", "group_acc")
    lower_is_better = {m: m != "group_acc" for m in METRICS}
    default_folds = 5
    protocols = ("kfold",)
    datasets = ("synthetic-dir", "FG-Net")
    default_method = "group-soft"
    outputs = "regression"
    reference = "mse"  # plain regression on the same encoder
    dataset_params = {"synthetic-dir": SYNTHETIC_DIR_PARAMS}
    blurb = ("Group-DIR — Pu et al., AAAI 2025: encoder + group classifier + one expert per group; "
             "L = L_grc + λ1·L_mse + λ2·L_cls. Evaluated per shot on natural K-fold test folds.")
    options = (Param("groups", "int", 10, "|G|: equal-width groups over the training target range", 2, MAX_GROUPS, 1),)

    def load(self, name: str, **kw: Any):
        return load_dir(name, **kw)

    def dims(self, data, options):
        return dict(d=data.d, G=int(options["groups"]))

    def folds(self, data, run: dict[str, Any], options: dict[str, Any]) -> list[Fold]:
        y = targets_of(data)
        if data.n < run["folds"]:
            raise DataError(f"{data.name}: {data.n} samples are fewer than {run['folds']} folds")
        G = int(options["groups"])
        out = []
        for f, (tr, te) in enumerate(KFold(run["folds"], shuffle=True, random_state=run["seed"]).split(data.X)):
            sc = Scaler("minmax").fit(data.X[tr])
            y_tr, y_te = y[tr], y[te]
            mu, sd = float(y_tr.mean()), float(y_tr.std() or 1.0)  # methods regress standardised targets
            edges = group_edges(y_tr, G)
            g_tr = group_of(y_tr, edges)
            lds = lds_weights(y_tr, target_bins(y_tr))  # the one-unit bins the shot regions use
            empty = np.zeros((0, data.d), np.float32)
            out.append(Fold(
                f,
                x={"train": sc.transform(data.X[tr]), "val": empty, "test": sc.transform(data.X[te])},
                y={"train": {"y": ((y_tr - mu) / sd).astype(np.float32), "g": g_tr.astype(np.int64),
                             "w": lds.astype(np.float32)},
                   "val": {}, "test": {}},
                stats=dict(group_prior=np.bincount(g_tr, minlength=G) / len(g_tr), n=float(len(tr))),
                ctx=dict(y_train=y_tr, y_test=y_te, mu=mu, sd=sd, edges=edges, g_test=group_of(y_te, edges),
                         test_idx=te)))
        return out

    def _pred(self, fold: Fold, out: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        return out["y"] * fold.ctx["sd"] + fold.ctx["mu"], out.get("g")

    def diag(self, fold: Fold, out, cfg: dict[str, Any] | None = None) -> dict[str, float]:
        pred, g = self._pred(fold, out)
        return dict(test_mae=float(np.abs(pred - fold.ctx["y_test"]).mean()),
                    test_group_acc=float((g == fold.ctx["g_test"]).mean()) if g is not None else float("nan"))

    def evaluate(self, fold: Fold, out, cfg: dict[str, Any], pc: bool = False, **_: Any) -> list[dict[str, Any]]:
        pred, g = self._pred(fold, out)
        row = dict(dir_metrics(fold.ctx["y_test"], pred, fold.ctx["y_train"]),
                   group_acc=float((g == fold.ctx["g_test"]).mean()) if g is not None else float("nan"))
        g_pred = g if g is not None else group_of(pred, fold.ctx["edges"])
        return [dict(row, _pred=pred, _groups=(g_pred, fold.ctx["g_test"]))]
