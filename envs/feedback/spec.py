"""What a study says about feedback: :class:`Feedback`, checked where it enters.

Numeric fields take one value or a list of values (an in-process sweep, run in the same
compiled program as the policy's hyperparameter grid); the rest is fixed for the run.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from common.validation import Range

DELAY_KINDS = ("none", "fixed", "geometric", "lognormal", "mixture")
MAX_WINDOW = 100_000  # rounds; the pending buffer holds window + 1 rounds per lane


class FeedbackParams(NamedTuple):
    """The numeric feedback settings of one grid point, as the compiled program reads
    them (float32 scalars per lane)."""

    delay_mean: Any  # rounds
    delay_sigma: Any  # log-normal: standard deviation of log(delay)
    slow_mean: Any  # mixture: mean delay of the slow share, in rounds
    slow_share: Any  # mixture: probability that a reward is slow
    attribution_window: Any  # rounds after the decision; later rewards are censored
    update_every: Any  # B: the served model is refreshed every B rounds


NUMERIC = {
    "delay_mean": Range(0.0, 1e6),
    "delay_sigma": Range(0.0, 10.0, low_open=True),
    "slow_mean": Range(0.0, 1e6),
    "slow_share": Range(0.0, 1.0),
    "attribution_window": Range(0, MAX_WINDOW, integer=True),
    "update_every": Range(1, 1_000_000_000, integer=True),
}


@dataclass(frozen=True)
class Feedback:
    """How and when rewards reach the policy.

    Round ``t``'s reward arrives ``δ_t`` rounds after the decision, ``δ_t`` drawn
    independently each round (:func:`envs.feedback.delays.sample_delay`):

    * ``none``: δ = 0, today's feedback;
    * ``fixed``: δ = ``delay_mean`` (an integer);
    * ``geometric``: P(δ = k) = p(1 − p)^k, k ≥ 0, with mean ``delay_mean`` (p = 1/(1 + mean));
    * ``lognormal``: δ = ⌊exp(μ + σZ)⌋ with σ = ``delay_sigma`` and μ chosen so the
      continuous log-normal has mean ``delay_mean``;
    * ``mixture``: geometric with mean ``slow_mean`` with probability ``slow_share``,
      else geometric with mean ``delay_mean`` (most rewards fast, some slow).

    A reward with δ > ``attribution_window`` (W) is censored: it counts as ``missing``
    — a number (0 for clicks) revealed to the policy when the window closes, at round
    t + W — or, with ``missing="drop"``, the decision never yields an observation. A
    policy updates only when a reward arrives, rewards arriving in one round in decision
    order. Each lane keeps its pending rewards in a ring of W + 1 rounds (context,
    action, value, arrival round): (W + 1)·(d + 3)·4 bytes per lane, 5.3 KB at W = 100 and
    d = 10. Every reward arrives by round t + W, so the ring cannot overflow.

    The served model is refreshed every ``update_every`` (B) rounds: decisions use the
    policy's state as of the last refresh while updates accumulate in the learner's
    state, as a production trainer and model cache do. B = 1 is immediate learning.
    """

    delay: str = "none"
    delay_mean: Any = 0.0
    delay_sigma: Any = 1.0
    slow_mean: Any = 0.0
    slow_share: Any = 0.0
    attribution_window: Any = None
    missing: Any = 0.0
    update_every: Any = 1

    def __post_init__(self) -> None:
        if self.delay not in DELAY_KINDS:
            raise ValueError(f"feedback.delay must be one of {', '.join(DELAY_KINDS)}, "
                             f"got {self.delay!r}")
        if self.attribution_window is None:
            object.__setattr__(self, "attribution_window", self._default_window())
        for name, allowed in NUMERIC.items():
            for i, v in enumerate(_values(getattr(self, name))):
                where = f"feedback.{name}" + (f"[{i}]" if _is_list(getattr(self, name)) else "")
                allowed.check(where, v)
        self._check_missing()
        self._check_kind()

    def _default_window(self) -> int:
        """W when none is given: the fixed delay itself; 0 without delays."""
        if self.delay == "none":
            return 0
        if self.delay == "fixed":
            return int(max(_values(self.delay_mean)))
        raise ValueError(f"feedback.attribution_window is required with "
                         f"feedback.delay={self.delay}: rewards later than it are censored "
                         f"(e.g. feedback.attribution_window=100)")

    def _check_missing(self) -> None:
        m = self.missing
        if m == "drop":
            return
        if isinstance(m, bool) or not isinstance(m, numbers.Real) or not math.isfinite(m):
            raise ValueError(f"feedback.missing must be a finite number (the value of a "
                             f"censored reward, e.g. 0) or 'drop', got {m!r}")

    def _check_kind(self) -> None:
        """Settings that only make sense with some delay kinds."""
        means = _values(self.delay_mean)
        if self.delay == "none" and any(v != 0 for v in means):
            raise ValueError(f"feedback.delay_mean={self.delay_mean!r} needs a delay kind "
                             f"(feedback.delay=fixed|geometric|lognormal|mixture)")
        if self.delay == "fixed":
            for v in means:
                if float(v) != int(v):
                    raise ValueError(f"feedback.delay_mean must be a whole number of rounds "
                                     f"with feedback.delay=fixed, got {v!r}")
            shortest = min(_values(self.attribution_window))
            if shortest < max(means):
                raise ValueError(
                    f"feedback.attribution_window={shortest} is shorter than the fixed "
                    f"delay feedback.delay_mean={max(means)}: every reward would be "
                    f"censored")

    @property
    def delayed(self) -> bool:
        """Rewards may arrive after their round (a pending buffer is kept)."""
        return self.delay != "none"

    @property
    def batched(self) -> bool:
        """The served model lags the learner (some grid point has B > 1)."""
        return any(int(b) != 1 for b in _values(self.update_every))

    @property
    def drop_missing(self) -> bool:
        return self.missing == "drop"

    @property
    def slots(self) -> int:
        """Rounds in each lane's pending ring: the longest window + 1."""
        return int(max(_values(self.attribution_window))) + 1 if self.delayed else 0

    def params(self) -> FeedbackParams:
        """The numeric settings, scalars or (G,) lists as given."""
        return FeedbackParams(**{name: _as_array(getattr(self, name))
                                 for name in FeedbackParams._fields})

    def swept(self) -> dict[str, list]:
        """The numeric fields given as lists: name -> values."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self)
                if f.name in NUMERIC and _is_list(getattr(self, f.name))}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> Feedback:
        """A :class:`Feedback` from a config mapping (``None``: immediate feedback)."""
        if cfg is None:
            return cls()
        if not isinstance(cfg, Mapping):
            raise ValueError(f"feedback must be a mapping of its settings, got {cfg!r}")
        known = [f.name for f in fields(cls)]
        for key in cfg:
            if key not in known:
                raise ValueError(f"feedback has no key {key!r}; allowed: {', '.join(known)}")
        return cls(**dict(cfg))


def _is_list(value: Any) -> bool:
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str)


def _values(value: Any) -> list:
    return list(value) if _is_list(value) else [value]


def _as_array(value: Any) -> np.ndarray:
    return np.asarray(_values(value) if _is_list(value) else value, np.float32)
