"""Name → policy factory, with the allowed range of every hyperparameter.

``make("lin_ucb", n_arms=5, dim=10, alpha=0.5)`` validates the values in plain Python,
before anything is compiled, and returns a policy whose ``default_params`` hold them.
Configs and tests iterate over :data:`REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bandits import context_free, linear
from bandits.base import Policy
from common.validation import ANY, DRAWS, NONNEG, POSITIVE, PROBABILITY, Range  # noqa: F401


@dataclass(frozen=True)
class PolicySpec:
    """How to build and check one algorithm.

    Attributes:
        factory: ``factory(n_arms, dim, **static) -> Policy``.
        params: numeric hyperparameters (fields of the params pytree) and their ranges;
            these can be swept in one compiled program.
        static: structural options (sizes) and their ranges; a change recompiles.
        contextual: whether the policy uses the context vector.
        binary_rewards: whether the policy assumes rewards in {0, 1}.
    """

    name: str
    factory: Callable[..., Policy]
    params: Mapping[str, Range]
    static: Mapping[str, Range] = field(default_factory=dict)
    contextual: bool = False
    binary_rewards: bool = False
    summary: str = ""


REGISTRY: dict[str, PolicySpec] = {
    s.name: s
    for s in [
        PolicySpec("uniform", context_free.uniform, {},
                   summary="uniform over eligible arms"),
        PolicySpec("eps_greedy", context_free.eps_greedy,
                   {"epsilon": PROBABILITY, "initial_value": ANY},
                   summary="ε-greedy on sample means"),
        PolicySpec("softmax", context_free.softmax,
                   {"temperature": POSITIVE, "initial_value": ANY},
                   summary="Boltzmann exploration on sample means"),
        PolicySpec("ucb1", context_free.ucb1, {"c": NONNEG}, summary="UCB1"),
        PolicySpec("ts_gaussian", context_free.ts_gaussian,
                   {"prior_mean": ANY, "prior_std": POSITIVE, "noise_std": POSITIVE},
                   {"n_prob_draws": DRAWS}, summary="Gaussian Thompson sampling"),
        PolicySpec("ts_beta", context_free.ts_beta, {"a0": POSITIVE, "b0": POSITIVE},
                   {"n_prob_draws": DRAWS}, binary_rewards=True,
                   summary="Beta–Bernoulli Thompson sampling"),
        PolicySpec("lin_ucb", linear.lin_ucb, {"alpha": NONNEG, "reg": POSITIVE},
                   contextual=True, summary="disjoint LinUCB"),
        PolicySpec("lin_ts", linear.lin_ts, {"v": NONNEG, "reg": POSITIVE},
                   {"n_prob_draws": DRAWS}, contextual=True,
                   summary="linear Thompson sampling"),
        PolicySpec("lin_eps_greedy", linear.lin_eps_greedy,
                   {"epsilon": PROBABILITY, "reg": POSITIVE}, contextual=True,
                   summary="ε-greedy on per-arm ridge estimates"),
    ]
}


def names() -> list[str]:
    """Every registered algorithm."""
    return list(REGISTRY)


def spec(name: str) -> PolicySpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown bandit {name!r}; allowed: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def validate(name: str, values: Mapping[str, Any], where: str | None = None) -> None:
    """Checks hyperparameter names and values; raises ``ValueError`` naming the key."""
    s = spec(name)
    where = where or f"bandit.{name}"
    allowed = {**s.params, **s.static}
    for key, value in values.items():
        if key not in allowed:
            raise ValueError(f"{where} has no key {key!r}; allowed: "
                             f"{', '.join(allowed) or '(none)'}")
        allowed[key].check(f"{where}.{key}", value)


def make(name: str, n_arms: int, dim: int, **values: Any) -> Policy:
    """Builds a validated policy whose ``default_params`` carry ``values``."""
    Range(1, integer=True).check("n_arms", n_arms)
    Range(1, integer=True).check("dim", dim)
    validate(name, values)
    s = spec(name)
    static = {k: v for k, v in values.items() if k in s.static}
    numeric = {k: float(v) for k, v in values.items() if k in s.params}
    policy = s.factory(n_arms, dim, **static)
    params = policy.default_params._replace(**numeric)
    params = type(params)(*(float(v) for v in params))
    return policy._replace(default_params=params)
