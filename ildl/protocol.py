"""Evaluation protocols: the imbalanced-LDL (ILDL) protocol of the papers and plain K-fold.

ILDL (data README): 10-fold `KFold(shuffle=True, random_state=0)`; from each training part keep
sample i iff y[i, c] < a/L and y[i, d] > b/L, plus the training sample with the highest degree of
every label; the test fold stays untouched; 20 kept samples are held out for validation; a label
is *head* when its total degree over the kept training sets (averaged over folds) exceeds 10× the
smallest label's, otherwise *tail*.

Validation split (`val_split`): `random` draws the 20 as the papers' code does. `boundary` holds out the 20 kept
samples nearest the filter's edge (smallest margin min((a/L − y_c)/(a/L), (y_d − b/L)/(1 − b/L))), the kept
samples most like the ones the filter removed. A validation set that leans toward the test distribution, so that
`+shrink` can see the shift; every method then trains without those 20. A declared option, never the default.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.model_selection import KFold

from .data import ILDL_THRESHOLDS, DataError, Dataset, check_thresholds

N_VAL = 20
HEAD_RATIO = 10.0
VAL_SPLITS = ("random", "boundary")


@dataclass
class Split:
    fold: int
    train: np.ndarray  # indices into the dataset, used for gradient steps
    val: np.ndarray  # held out from the kept training set for model selection
    test: np.ndarray  # the untouched test fold

    @property
    def kept(self) -> np.ndarray:
        """The whole (filtered) training set: train ∪ val."""
        return np.sort(np.concatenate([self.train, self.val]))


@dataclass
class Protocol:
    name: str  # "ildl" | "kfold"
    splits: list[Split]
    head: np.ndarray  # (C,) bool: head labels by the 10× rule
    thresholds: tuple | None = None


def ildl_filter(Y: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Indices (into Y) kept by the ILDL filter plus the top sample of every label, sorted."""
    L = Y.shape[1]
    a, b, c, d = check_thresholds(thresholds, L)
    keep = (Y[:, c] < a / L) & (Y[:, d] > b / L)
    keep[Y.argmax(0)] = True  # the one sample with the highest degree of each label
    return np.nonzero(keep)[0]


def head_labels(Y: np.ndarray, kept_sets: Sequence[np.ndarray], ratio: float = HEAD_RATIO) -> np.ndarray:
    """Head iff mean (over folds) total degree > ratio × the smallest label's."""
    mass = np.mean([Y[idx].sum(0) for idx in kept_sets], axis=0)
    return mass > ratio * mass.min()


def _n_val(n_kept: int, n_val: int) -> int:
    """How many kept samples validate: `n_val`, but tiny training sets keep most samples for training."""
    return min(n_val, max(1, n_kept // 5))


def _val_split(kept: np.ndarray, seed: int, n_val: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val): `n_val` of the kept samples, drawn as the RDA reference code draws them
    (`train_test_split(…, test_size=20, shuffle=True, random_state=seed)` over the kept set in index order)."""
    from sklearn.model_selection import train_test_split

    tr, va = train_test_split(np.arange(len(kept)), test_size=_n_val(len(kept), n_val), shuffle=True,
                              random_state=seed)
    return np.sort(kept[tr]), np.sort(kept[va])


def filter_margin(Y: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """(n,) how far inside the ILDL filter each row of Y lies: min((a/L − y_c)/(a/L), (y_d − b/L)/(1 − b/L)),
    each side scaled to [0, 1] over its own kept range; ≤ 0 for a row the filter removes (the top samples that
    are kept anyway)."""
    L = Y.shape[1]
    a, b, c, d = check_thresholds(thresholds, L)
    hi, lo = a / L, b / L
    m_c = (hi - Y[:, c]) / hi if hi < 1 else np.ones(len(Y))  # a ≥ L: the first condition removes nothing
    m_d = (Y[:, d] - lo) / (1 - lo) if lo > 0 else np.ones(len(Y))  # b = 0: nor does the second
    return np.minimum(m_c, m_d)


def _boundary_split(kept: np.ndarray, Y: np.ndarray, thresholds: Sequence[float], n_val: int) -> tuple[np.ndarray,
                                                                                                          np.ndarray]:
    """(train, val): the `n_val` kept samples nearest the filter's edge (ties: the lower index); the top samples
    the filter would have removed (margin ≤ 0) always train, as each is its label's only peak."""
    margin = filter_margin(Y[kept], thresholds)
    inside = np.nonzero(margin > 0)[0]
    n_val = min(_n_val(len(kept), n_val), len(inside))
    order = inside[np.lexsort((kept[inside], margin[inside]))]  # margin first, then index
    va = np.zeros(len(kept), bool)
    va[order[:n_val]] = True
    return np.sort(kept[~va]), np.sort(kept[va])


def _check_folds(ds: Dataset, folds: int) -> None:
    if not isinstance(folds, (int, np.integer)) or isinstance(folds, bool):
        raise DataError(f"folds must be a whole number, got {folds!r}")
    if folds < 2:
        raise DataError(f"need at least 2 folds, got {folds}")
    if ds.n < folds:
        raise DataError(f"{ds.name}: {ds.n} samples are fewer than {folds} folds")


def make_protocol(ds: Dataset, name: str = "ildl", *, folds: int = 10, seed: int = 0,
                  thresholds: Sequence[float] | None = None, n_val: int = N_VAL, val_seed: int | None = None,
                  val_split: str = "random") -> Protocol:
    """Build the splits. `seed` feeds KFold's random_state (0 is the papers' protocol) and, unless `val_seed`
    is given, the validation split (the RDA reference draws it with its run seed on fixed folds). `val_split`
    "boundary" (ILDL only) holds out the kept samples nearest the filter's edge instead (module docstring)."""
    _check_folds(ds, folds)
    if val_split not in VAL_SPLITS:
        raise DataError(f"unknown validation split '{val_split}' ({' or '.join(VAL_SPLITS)})")
    kf = KFold(n_splits=folds, shuffle=True, random_state=seed)
    if name == "ildl":
        th = tuple(thresholds) if thresholds is not None else ds.thresholds
        if th is None:
            raise DataError(f"{ds.name}: the ILDL protocol needs thresholds a,b,c,d (e.g. --thresholds 1,2,2,0); "
                            f"built in for {', '.join(_known())} (a file named like one, ignoring case and punctuation)")
        th = check_thresholds(th, ds.n_labels)
    elif name == "kfold":
        th = None
        if val_split != "random":
            raise DataError("the boundary validation split needs the ILDL filter (plain K-fold has no boundary)")
    else:
        raise DataError(f"unknown protocol '{name}' (ildl or kfold)")
    splits = []
    for f, (tr, te) in enumerate(kf.split(ds.X)):
        kept = tr[ildl_filter(ds.Y[tr], th)] if th is not None else tr
        if len(kept) < 2:
            raise DataError(f"{ds.name}: fold {f} keeps {len(kept)} training sample(s) under thresholds {th}")
        if val_split == "boundary":
            train, val = _boundary_split(kept, ds.Y, th, n_val)
        else:
            train, val = _val_split(kept, seed if val_seed is None else val_seed, n_val)
        splits.append(Split(fold=f, train=train, val=val, test=np.sort(te)))
    head = head_labels(ds.Y, [s.kept for s in splits])
    return Protocol(name=name, splits=splits, head=head, thresholds=th)


def _known() -> list[str]:
    return list(ILDL_THRESHOLDS)


class Scaler:
    """Per-feature scaling fitted on the training part only (default min-max).

    Min-max (not z-scores) because LDL features such as Movie's are sparse in [0, 1]: a zero stays
    a zero, and a feature seen once in 126 training samples does not blow up to ±10 on the test fold.
    """

    def __init__(self, kind: str = "minmax"):
        if kind not in ("minmax", "standard", "none"):
            raise ValueError(f"unknown scaling '{kind}' (minmax, standard, none)")
        self.kind = kind

    def fit(self, X: np.ndarray) -> "Scaler":
        if self.kind == "minmax":
            self.shift = X.min(0)
            span = X.max(0) - self.shift
        elif self.kind == "standard":
            self.shift = X.mean(0)
            span = X.std(0)
        else:
            self.shift, span = np.zeros(X.shape[1], X.dtype), np.ones(X.shape[1], X.dtype)
        self.scale = np.where(span > 1e-8, span, 1.0).astype(X.dtype)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.shift) / self.scale).astype(np.float32)



def imbalance_report(ds: Dataset, proto: Protocol) -> dict:
    """What the Data page shows: per-label mass in the kept training sets vs the test folds (summed
    over folds), head/tail labels, imbalance ratio, dominant-label shares, feature sparsity."""
    train_mass = np.sum([ds.Y[s.kept].sum(0) for s in proto.splits], axis=0)
    test_mass = np.sum([ds.Y[s.test].sum(0) for s in proto.splits], axis=0)
    kept = np.concatenate([s.kept for s in proto.splits])
    dom_train = np.bincount(ds.Y[kept].argmax(1), minlength=ds.n_labels) / len(kept)
    dom_all = np.bincount(ds.Y.argmax(1), minlength=ds.n_labels) / ds.n
    return dict(
        train_mass=train_mass, test_mass=test_mass, head=proto.head,
        imbalance_ratio=float(train_mass.max() / max(train_mass.min(), 1e-12)),
        train_sizes=[len(s.kept) for s in proto.splits], test_sizes=[len(s.test) for s in proto.splits],
        dominant_share_train=dom_train, dominant_share_all=dom_all,
        mean_dk=float(ds.Y.max(1).mean()), feature_zero_fraction=float((ds.X == 0).mean()),
    )


def imbalance_sentence(rep: dict, labels: list[str]) -> str:
    """What the Data page says about head and tail labels, computed from the report: the papers' mass rule, and
    the dominance view beside it — they can disagree (every sample spreads its mass over all labels)."""
    head = [labels[j] for j in np.nonzero(rep["head"])[0]]
    tail = [labels[j] for j in np.nonzero(~rep["head"])[0]]
    mass = np.asarray(rep["train_mass"], np.float64)
    ratio = float(mass.max() / max(mass.min(), 1e-12))
    top = int(np.argmax(rep["dominant_share_train"]))
    share = float(rep["dominant_share_train"][top])
    if head:
        text = (f"**Head labels** (training mass > 10× the smallest label's): {', '.join(head)} · **tail labels**: "
                f"{', '.join(tail) or '—'}.")
    else:
        text = (f"By the papers' rule (a label is *head* when its training mass exceeds 10× the smallest label's) "
                f"**no label is head** here: the largest label's mass is only {ratio:.1f}× the smallest's.")
    text += (f" {share:.0%} of the training samples have **{labels[top]}** as their dominant label "
             f"(whole data: {float(rep['dominant_share_all'][top]):.0%}).")
    if not head and share > 0.5:
        text += (" Mass and dominance disagree: each sample spreads its degree over every label, so a label can "
                 "dominate most samples without holding 10× the mass of the rarest.")
    tr = mass / max(mass.sum(), 1e-300)
    te = np.asarray(rep["test_mass"], np.float64)
    te = te / max(te.sum(), 1e-300)
    a, b = int(tr.argmax()), int(te.argmax())
    text += (" Share of the label mass, training → untouched test folds: "
             + ", ".join(f"{labels[j]} {tr[j]:.2f} → {te[j]:.2f}" for j in range(len(labels))) + ".")
    flat = te.max() - te.min() < 0.05
    if a != b or flat:
        where = (f"spreads almost evenly ({te.min():.2f}–{te.max():.2f} per label)" if flat
                 else f"centres on **{labels[b]}**")
        text += (f" The training mass centres on **{labels[a]}**, the test mass {where}: a model that copies the "
                 "training prior is wrong on the test folds before it reads a feature.")
    return text
