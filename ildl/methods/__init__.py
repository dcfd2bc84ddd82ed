"""Method registry: one line per method name → its class and the parameters that name fixes.

Adding a method = one file under `ildl/methods/` (a `Method` subclass: build, loss, predict) + one `register`
line below; the CLI, the app's pickers and widgets, studies and jobs take it from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import Param, resolve
from ..metrics import CONSTANT_PREDICTORS
from .admm import EDLLRL, LDLLCLR, LDLSF
from .amema import AMEMA
from .base import Batch, Method
from .dec_kl import DecoupledKL
from .dildl import DILDL
from .groupdir import GroupDIR, Regression
from .ldl_kl import LDLKL
from .longtail import LTClassifier
from .maxent import LDLLDM, SABFGS
from .ofr import OFRCB, OFRDB, OFRFL
from .rda import RDA
from .scl import AdamLDLSCL


@dataclass(frozen=True)
class Entry:
    """A registry name: its class and the parameter values the name fixes (group-soft = GroupDIR, soft)."""
    name: str
    cls: type[Method]
    preset: dict[str, Any] = field(default_factory=dict)
    title: str = ""

    @property
    def task(self) -> str:
        return self.cls.task

    @property
    def paper(self) -> str:
        return self.cls.paper

    @property
    def step_terms(self) -> tuple[str, ...]:
        return self.cls.step_terms

    def schema(self) -> tuple[Param, ...]:
        """The declared knobs a user may set (the task's common ones + the method's, minus the preset)."""
        return tuple(p for p in self.cls.schema() if p.name not in self.preset)

    def config(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults + overrides, type-checked, + the preset: everything the method reads. A resolved config
        resolves to itself (its preset keys must hold the preset values)."""
        given = dict(overrides or {})
        for k, v in self.preset.items():
            if k in given and given.pop(k) != v:
                raise ValueError(f"method '{self.name}' fixes {k}={v!r}")
        return {**resolve(self.schema(), given), **self.preset}


REGISTRY: dict[str, Entry] = {}


def register(name: str, cls: type[Method], title: str = "", **preset: Any) -> Entry:
    """Add a method name; refuses a name taken, a preset key the class does not declare and a preset value its
    declaration does not accept (a registry line cannot fix what the method never reads)."""
    if name in REGISTRY or name in CONSTANT_PREDICTORS or "+" in name:
        raise ValueError(f"method name {name!r} is taken or malformed")
    declared = {p.name: p for p in cls.schema()}
    unknown = sorted(set(preset) - set(declared))
    if unknown:
        raise ValueError(f"register({name!r}): {cls.__name__} declares no {unknown}")
    for k, v in preset.items():
        declared[k].coerce(v)  # ValueError with the parameter's own message
    REGISTRY[name] = Entry(name, cls, dict(preset), title or cls.title)
    return REGISTRY[name]


# label-distribution learning (task ldl)
register("ldl-kl", LDLKL)
register("dec-kl", DecoupledKL)
register("ofr-fl", OFRFL)
register("ofr-cb", OFRCB)
register("ofr-db", OFRDB)
register("rda", RDA)
register("dildl", DILDL)
register("amema", AMEMA)
# the classic LDL learners of the papers' tables (spec §3c)
register("sa-bfgs", SABFGS)
register("edl-lrl", EDLLRL)
register("ldlsf", LDLSF)
register("ldl-lclr", LDLLCLR)
register("adam-ldl-scl", AdamLDLSCL)
register("ldl-ldm", LDLLDM)
# imbalanced regression (task dir)
register("mse", Regression, "MSE — plain regression (same encoder, one head)", lds=False, loss="l2")
register("l1", Regression, "L1 — plain regression on |ŷ − y| (same encoder, one head)", lds=False, loss="l1")
register("lds", Regression, "LDS — regression weighted by 1 / smoothed label density", lds=True)
register("group-ce", GroupDIR, "Group-DIR, CE group classifier", criterion="ce")
register("group-la", GroupDIR, "Group-DIR, logit-adjusted group classifier", criterion="la")
register("group-soft", GroupDIR, "Group-DIR, symmetric descending soft labels", criterion="soft")
# long-tailed classification under label shift (task lt)
register("ce", LTClassifier, "CE — plain cross-entropy", kind="ce")
register("pc", LTClassifier, "PC softmax — CE, then logits + log p_t − log p_s", kind="pc")
register("la", LTClassifier, "Logit adjustment — CE(f + τ log p_s)", kind="la")
register("balanced-softmax", LTClassifier, "Balanced softmax — CE(f + log n_y)", kind="bs")
register("lade", LTClassifier, "LADE — CE(f + log p_s) + α·L_LADE", kind="lade")


# Name modifiers of label-distribution methods (spec §3, §3b), in the order a canonical name writes them.
MODIFIERS: dict[str, str] = {
    "+la": "logit-adjusted training: z + τ·log p_s in the loss (la_tau = 1 unless set), predictions for p_t",
    "+pc": "post-compensation: logits + log p_t − log p_s at prediction time",
    "+shrink": "shrinkage toward p_t, its strength λ chosen on the label-balanced validation KL",
}


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method name: `amema+la+shrink` → entry 'amema', logit-adjusted, shrunk; constants have no entry."""
    base: str
    pc: bool = False
    la: bool = False
    shrink: bool = False

    @property
    def name(self) -> str:
        return self.base + "".join(m for m, on in (("+la", self.la), ("+pc", self.pc), ("+shrink", self.shrink)) if on)

    @property
    def modifiers(self) -> tuple[str, ...]:
        return tuple(m for m, on in (("+la", self.la), ("+pc", self.pc), ("+shrink", self.shrink)) if on)

    @property
    def constant(self) -> bool:
        return self.base in CONSTANT_PREDICTORS

    @property
    def entry(self) -> Entry:
        return REGISTRY[self.base]

    @property
    def task(self) -> str:
        return "ldl" if self.constant else self.entry.task

    def config(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.constant:
            return {}
        if not self.la:
            return self.entry.config(overrides)
        cfg = self.entry.config({"la_tau": 1.0, **(overrides or {})})
        if not cfg["la_tau"]:
            raise ValueError(f"'{self.name}': '+la' needs la_tau > 0 (drop '+la' to train without adjustment)")
        return cfg


def parse(name: str, task: str | None = None) -> MethodSpec:
    """'amema+la+shrink' → MethodSpec; checks the name exists (and belongs to `task` when given)."""
    raw = str(name).strip().lower()
    base, mods = raw, set()
    while True:
        m = next((m for m in MODIFIERS if base.endswith(m)), None)
        if m is None:
            break
        if m in mods:
            raise ValueError(f"'{name}': '{m}' appears twice")
        mods.add(m)
        base = base[: -len(m)]
    if base in CONSTANT_PREDICTORS:
        if mods:
            raise ValueError(f"'{sorted(mods)[0]}' applies to trained methods, not the constant predictor '{base}'")
        spec = MethodSpec(base)
    elif base in REGISTRY:
        if mods and REGISTRY[base].task != "ldl":
            raise ValueError(f"'{sorted(mods)[0]}' applies to label-distribution methods, not '{base}'")
        if {"+la", "+pc"} <= mods:
            raise ValueError(f"'{name}': choose one prior correction — '+la' trains for the target prior, '+pc' "
                             "corrects an unadjusted model afterwards; both would correct twice")
        spec = MethodSpec(base, pc="+pc" in mods, la="+la" in mods, shrink="+shrink" in mods)
    else:
        known = available(task) + (list(CONSTANT_PREDICTORS) + [f"{g} (a group)" for g in GROUPS]
                                   if task in (None, "ldl") else [])
        raise ValueError(f"unknown method '{name}'; known{f' for task {task}' if task else ''}: {', '.join(known)}"
                         + (" (append +la, +pc or +shrink for a prior correction)" if task in (None, "ldl") else ""))
    if task is not None and spec.task != task:
        raise ValueError(f"method '{name}' belongs to task '{spec.task}', not '{task}'")
    return spec


def available(task: str | None = None) -> list[str]:
    return [n for n, e in REGISTRY.items() if task is None or e.task == task]


# Group words a method list may use (`--method classic,ildl,constants`): the papers' Table 1 layout.
GROUPS: dict[str, str] = {
    "classic": "the six classic LDL learners (sa-bfgs, edl-lrl, ldlsf, ldl-lclr, adam-ldl-scl, ldl-ldm)",
    "ildl": "the imbalanced-LDL methods (ofr-fl, ofr-cb, ofr-db, rda, dildl, amema)",
    "baselines": "the plain LDL baselines (ldl-kl, dec-kl)",
    "constants": "the constant predictors (uniform, train_mean, test_mean — the last an oracle)",
}


def group_members(group: str) -> list[str]:
    if group == "constants":
        return list(CONSTANT_PREDICTORS)
    family = {"classic": "classic", "ildl": "ildl", "baselines": ""}[group]
    return [n for n, e in REGISTRY.items() if e.task == "ldl" and e.cls.family == family]


def expand(names: list[str] | tuple[str, ...]) -> list[str]:
    """Replace group words by their members (registry order), keeping the first occurrence of every name."""
    out: list[str] = []
    for raw in names:
        n = str(raw).strip()
        for m in group_members(n.lower()) if n.lower() in GROUPS else [n]:
            if m not in out:
                out.append(m)
    return out


__all__ = ["Batch", "Entry", "GROUPS", "MODIFIERS", "Method", "MethodSpec", "REGISTRY", "available", "expand", "parse",
           "register"]
