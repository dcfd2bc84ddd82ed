"""Method registry: name → class, plus the `+pc` suffix and the constant predictors."""
from __future__ import annotations

from dataclasses import dataclass

from ..metrics import CONSTANT_PREDICTORS
from .base import Method, TrainStats
from .amema import AMEMA
from .dildl import DILDL
from .ldl_kl import LDLKL
from .ofr import OFRCB, OFRDB, OFRFL
from .rda import RDA

REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    REGISTRY[cls.name] = cls
    return cls


for _cls in (LDLKL, OFRFL, OFRCB, OFRDB, RDA, DILDL, AMEMA):
    register(_cls)


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method name: `amema+pc` → base 'amema', pc=True."""
    base: str
    pc: bool = False

    @property
    def name(self) -> str:
        return self.base + ("+pc" if self.pc else "")

    @property
    def constant(self) -> bool:
        return self.base in CONSTANT_PREDICTORS

    @property
    def cls(self) -> type[Method]:
        return REGISTRY[self.base]


def parse(name: str) -> MethodSpec:
    raw = name.strip().lower()
    base, pc = (raw[:-3], True) if raw.endswith("+pc") else (raw, False)
    if base in CONSTANT_PREDICTORS:
        if pc:
            raise ValueError(f"'+pc' applies to trained methods, not the constant predictor '{base}'")
        return MethodSpec(base)
    if base not in REGISTRY:
        raise ValueError(f"unknown method '{name}'; known: {', '.join(list(CONSTANT_PREDICTORS) + available())} "
                         "(append +pc for post-compensation)")
    return MethodSpec(base, pc)


def available() -> list[str]:
    return list(REGISTRY)


__all__ = ["Method", "TrainStats", "REGISTRY", "MethodSpec", "parse", "available", "register"]
