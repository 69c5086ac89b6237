"""The validation vocabulary every package uses: allowed ranges of numbers, with error
messages that name the field and the value."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """An allowed interval for a number, with open or closed ends."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        kind = "an integer" if self.integer else "a number"
        return f"{kind} in {lo}{self.low}, {self.high}{hi}"

    def check(self, where: str, value: Any) -> None:
        ok_type = isinstance(value, numbers.Integral if self.integer else numbers.Real)
        if isinstance(value, bool) or not ok_type:
            raise ValueError(f"{where} must be {self.describe()}, got {value!r}")
        v = float(value)
        if math.isnan(v):
            raise ValueError(f"{where} must be {self.describe()}, got nan")
        too_low = v <= self.low if self.low_open else v < self.low
        too_high = v >= self.high if self.high_open else v > self.high
        if too_low or too_high:
            raise ValueError(f"{where} must be {self.describe()}, got {value!r}")


ANY = Range()
NONNEG = Range(0.0)
POSITIVE = Range(0.0, low_open=True)
PROBABILITY = Range(0.0, 1.0)
DRAWS = Range(1, 1_000_000, integer=True)


def check_int(where: str, value: Any, low: int = 1, high: float = math.inf) -> int:
    """``value`` as an ``int`` after checking it is an integer in [low, high] (``True`` is
    not a count)."""
    Range(low, high, integer=True).check(where, value)
    return int(value)


@dataclass(frozen=True)
class Choice:
    """One of a few allowed names."""

    names: tuple[str, ...]

    def describe(self) -> str:
        return f"one of {', '.join(self.names)}"

    def check(self, where: str, value: Any) -> None:
        if not isinstance(value, str) or value not in self.names:
            raise ValueError(f"{where} must be {self.describe()}, got {value!r}")


@dataclass(frozen=True)
class Flag:
    """A boolean switch: ``True`` or ``False`` only (not 0/1)."""

    def describe(self) -> str:
        return "true or false"

    def check(self, where: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be {self.describe()}, got {value!r}")


def check_keys(where: str, section, allowed) -> None:
    """Raises ConfigError naming the first key of the mapping ``section`` (the config's
    ``where``) that is not in ``allowed``, with the allowed keys."""
    from common.errors import ConfigError

    for key in section:
        if key not in allowed:
            raise ConfigError(f"{where} has no key {key!r}; allowed: {', '.join(allowed)}")
