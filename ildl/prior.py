"""Label-prior correction of LDL predictions (spec §3 +PC, §3b +la and shrinkage) — numpy, after training.

Under the ILDL protocol the training prior p_s (the mean kept training distribution) is far from the test
one: on Movie 97% of the kept samples have label 0 dominant while the test folds centre on label 2. A model
that copies p_s loses on `prior_gap` whatever it learns about x. Three corrections, all aimed at a target
prior p_t (uniform unless the user gives one; the test prior itself is never used):

  +pc      p ∝ p · p_t / p_s                  logits + log p_t − log p_s, at prediction time only
  +la      train on z + τ·log p_s, predict softmax(z + log p_t) = p · p_t (renormalised; `la_target`)
  +shrink  p_λ = (1 − λ)·p + λ·p_t (`linear`), or p_λ ∝ p^(1−λ)·p_t^λ (`log`, the log-linear form: a
           tempered p multiplied by the prior), λ ∈ [0, 1] chosen per model on the label-balanced validation
           KL (`selection.balanced_weights`); λ = 1 is the target prior itself (the uniform predictor), so a
           method that has learnt nothing the validation data can confirm falls back to it.
"""
from __future__ import annotations

import numpy as np

from . import metrics as M
from .selection import balanced_weights

LAMBDAS = np.linspace(0.0, 1.0, 51)  # the shrinkage grid, step 0.02


def target(C: int, p_t=None) -> np.ndarray:
    """(C,) the target prior: uniform unless given (normalised)."""
    if p_t is None:
        return np.full(C, 1.0 / C)
    v = np.asarray(p_t, np.float64)
    return v / v.sum()


def compensate(p: np.ndarray, p_s: np.ndarray, p_t: np.ndarray | None = None) -> np.ndarray:
    """Post-compensation (+pc): logits + log p_t − log p_s, i.e. p ∝ p · p_t / p_s. p (n, C), p_s (C,)."""
    q = np.asarray(p, np.float64) * (target(p.shape[1], p_t) / np.maximum(p_s, 1e-8))
    return q / q.sum(1, keepdims=True)


def la_target(p: np.ndarray, p_t: np.ndarray | None = None) -> np.ndarray:
    """A logit-adjusted model's prediction for p_t: softmax(z + log p_t) = p·p_t renormalised (p = softmax(z),
    aimed at a uniform prior); for a uniform p_t, p itself. p (n, C)."""
    p = np.asarray(p, np.float64)
    if p_t is None:
        return p
    q = p * target(p.shape[1], p_t)
    return q / q.sum(1, keepdims=True)


FORMS = ("linear", "log")
FLOOR = 1e-12  # log-linear form: p^(1−λ) of an exact 0 stays 0 only at λ = 0


def shrink(p: np.ndarray, lam: float, p_t: np.ndarray | None = None, form: str = "linear") -> np.ndarray:
    """p (n, C) shrunk toward p_t by λ: (1 − λ)·p + λ·p_t, or with `form="log"` p^(1−λ)·p_t^λ renormalised."""
    p, t = np.asarray(p, np.float64), target(p.shape[1], p_t)
    if form == "linear":
        return (1.0 - lam) * p + lam * t
    if form != "log":
        raise ValueError(f"shrinkage form must be one of {FORMS}, got {form!r}")
    logq = (1.0 - lam) * np.log(np.maximum(p, FLOOR)) + lam * np.log(np.maximum(t, FLOOR))
    q = np.exp(logq - logq.max(1, keepdims=True))
    return q / q.sum(1, keepdims=True)


def choose_lambda(p_val: np.ndarray, y_val: np.ndarray, p_s: np.ndarray, p_t: np.ndarray | None = None,
                  grid: np.ndarray = LAMBDAS, form: str = "linear") -> float:
    """The λ of `grid` with the lowest label-balanced validation KL (ties: the smaller λ). p_val, y_val (n, C);
    without validation rows nothing can be confirmed and λ = 1 (the target prior itself)."""
    y_val = np.asarray(y_val, np.float64)
    if len(y_val) == 0:
        return 1.0
    w = balanced_weights(y_val, p_s)  # floors the prior itself
    w = w / max(w.sum(), 1e-300)
    scores = [float(w @ M.kl_rows(y_val, shrink(p_val, lam, p_t, form))) for lam in grid]  # KL only: 51 grid points
    return float(grid[int(np.argmin(scores))])
