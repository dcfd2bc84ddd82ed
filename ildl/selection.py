"""Model selection: which epoch's weights a run reports. A declared choice, shown with every result.

The 20 validation samples of the ILDL protocol come from the kept, *imbalanced* training part, so the
reference code's rule — the epoch of lowest validation KL — rewards the model that best fits the training
prior, which is what imbalanced LDL is meant to avoid (measured on Movie: for RDA and OFR-DB the last epoch
beats the best-validation epoch, in the reference code as in ours). Rules:

  val_kl           lowest validation KL (the RDA reference code's rule)
  last             the last epoch
  val_kl_balanced  lowest *label-balanced* validation KL: each validation sample weighted by
                   w_i = Σ_c y_ic · (1/C) / p_s(c), p_s the mean training distribution — the importance weight
                   that turns the training label prior into a uniform one when y_i is read as p_s(c | x_i)
                   (label shift: p_t(x)/p_s(x) = Σ_c p_s(c|x)·p_t(c)/p_s(c)). It is the LDL form of model
                   selection by balanced (per-class averaged) validation error in long-tailed classification.

Every rule scores an epoch from the validation record alone; the test fold never reaches this module
(the trainer's optional per-epoch test metrics are a diagnostic that no rule reads).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import metrics as M

RULES: dict[str, str] = {
    "val_kl": "lowest validation KL (the RDA reference code's rule)",
    "last": "the last epoch",
    "val_kl_balanced": "lowest validation KL with the validation samples re-weighted to a uniform label prior",
}
DEFAULT = "val_kl_balanced"
PRIOR_FLOOR = 1e-3  # a label (almost) absent from training must not give one validation sample all the weight


def parse(rules: str | Sequence[str] | None) -> list[str]:
    """'val_kl,last' / ['last'] / None → a checked, de-duplicated list (the first is the run's primary rule)."""
    if rules is None:
        return [DEFAULT]
    items = [r.strip() for r in (rules.split(",") if isinstance(rules, str) else rules) if str(r).strip()]
    if items == ["all"]:
        return list(RULES)
    bad = [r for r in items if r not in RULES]
    if bad or not items:
        raise ValueError(f"unknown model-selection rule(s) {bad or rules!r}; known: {', '.join(RULES)} (or all)")
    return list(dict.fromkeys(items))


def balanced_weights(y_val: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(n,) w_i = Σ_c y_ic · (1/C) / p_s(c), p_s floored at PRIOR_FLOOR; y_val (n, C), prior (C,)."""
    C = y_val.shape[1]
    return np.asarray(y_val, np.float64) @ ((1.0 / C) / np.maximum(np.asarray(prior, np.float64), PRIOR_FLOOR))


def val_record(y_val: np.ndarray, p_val: np.ndarray, prior: np.ndarray) -> dict[str, float]:
    """What one epoch's validation predictions say: plain and balanced KL, Chebyshev."""
    y, p = np.asarray(y_val, np.float64), np.asarray(p_val, np.float64)
    kl = M.kl_rows(y, p)  # the two metrics a rule reads, not all of per_sample (once per model and epoch)
    w = balanced_weights(y, prior)
    return dict(val_kl=float(kl.mean()), val_chebyshev=float(np.abs(y - p).max(1).mean()),
                val_kl_balanced=float((w * kl).sum() / max(w.sum(), 1e-300)))


def score(rule: str, epoch: int, record: dict[str, Any]) -> float:
    """Lower is better; ties keep the earlier epoch. `last` scores −epoch, so every new epoch wins."""
    if rule == "last":
        return -float(epoch)
    v = record[rule]
    return float(v) if np.isfinite(v) else float("inf")


def choose(history: Sequence[dict[str, Any]], rule: str) -> int:
    """The epoch a rule picks from a validation history [{epoch, val_kl, val_kl_balanced, …}, …]
    (0 when the history is empty: the initial weights)."""
    best, best_epoch = float("inf"), 0
    for rec in history:
        s = score(rule, rec["epoch"], rec)
        if s < best:
            best, best_epoch = s, int(rec["epoch"])
    return best_epoch
