"""Name → policy factory, with the allowed range of every hyperparameter.

``make("lin_ucb", n_arms=5, dim=10, alpha=0.5)`` validates the values in plain Python,
before anything is compiled, and returns a policy whose ``default_params`` hold them.
Configs and tests iterate over :data:`REGISTRY`; a policy defined elsewhere joins with
:func:`register` (or, for a test, the :func:`registered` context).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bandits import (
    combinators,
    context_free,
    drift,
    drift_linear,
    linear,
    linear_shared,
    neural,
)
from bandits.base import Policy, State
from common.errors import ConfigError
from common.validation import (
    ANY,
    DRAWS,
    NONNEG,
    POSITIVE,
    PROBABILITY,
    Choice,
    Range,
    check_int,
)

Batches = Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PolicySpec:
    """How to build, check and train one algorithm.

    Attributes:
        name: the registry name; the factory's policies carry it as ``Policy.name``.
        factory: ``factory(n_arms, dim, **static) -> Policy``.
        params: numeric hyperparameters (fields of the params pytree) and their ranges;
            these can be swept in one compiled program.
        static: structural options (sizes, an optimiser's name) and their ranges or
            choices; a change recompiles.
        contextual: whether the policy uses the context vector.
        binary_rewards: whether the policy assumes rewards in {0, 1}.
        summary: one line for listings.
        fold_logs: ``fold_logs(state, batches) -> state``: the state after learning from
            logged ``(context (b, dim), action (b,) int64, reward (b,))`` batches in time
            order (see :func:`bandits.train.train`); ``None`` if the algorithm cannot
            train from logs.
        replays_logs: whether the algorithm, lacking a ``fold_logs`` because its state is
            not a sum over rows (a network trained on a replay buffer), trains from logs
            by replaying them in order (:func:`bandits.log_replay.replay_logs`).
    """

    name: str
    factory: Callable[..., Policy]
    params: Mapping[str, Range]
    static: Mapping[str, Range | Choice] = field(default_factory=dict)
    contextual: bool = False
    binary_rewards: bool = False
    summary: str = ""
    fold_logs: Callable[[State, Batches], State] | None = None
    replays_logs: bool = False

    @property
    def trains_from_logs(self) -> bool:
        return self.fold_logs is not None or self.replays_logs


_CF = context_free.fold_logs
_LIN = linear.fold_logs
DISCOUNT = Range(0.0, 1.0, low_open=True)
WINDOW = Range(1, 1_000_000, integer=True)
NODES = Range(2, 256, integer=True)  # quadrature nodes per arm (Gaussian Thompson sampling)
_SIZE = Range(1, 1_000_000, integer=True)
ARM_FEATURES = Range(0, 100_000, integer=True)  # 0: a shared context; d: each arm's own d
NETWORK = {"hidden": Range(1, 4096, integer=True), "depth": Range(1, 8, integer=True),
           "buffer": _SIZE, "train_every": _SIZE, "n_steps": Range(1, 100_000, integer=True),
           "batch": Range(1, 100_000, integer=True), "optimizer": Choice(("adam", "sgd")),
           "arm_features": ARM_FEATURES}  # static, every neural policy
TRAINING = {"lr": POSITIVE, "weight_decay": NONNEG}  # params, every neural policy

REGISTRY: dict[str, PolicySpec] = {
    s.name: s
    for s in [
        PolicySpec("uniform", context_free.uniform, {},
                   summary="uniform over eligible arms", fold_logs=_CF),
        PolicySpec("eps_greedy", context_free.eps_greedy,
                   {"epsilon": PROBABILITY, "initial_value": ANY},
                   summary="ε-greedy on sample means", fold_logs=_CF),
        PolicySpec("softmax", context_free.softmax,
                   {"temperature": POSITIVE, "initial_value": ANY},
                   summary="Boltzmann exploration on sample means", fold_logs=_CF),
        PolicySpec("ucb1", context_free.ucb1, {"c": NONNEG}, summary="UCB1", fold_logs=_CF),
        PolicySpec("ts_gaussian", context_free.ts_gaussian,
                   {"prior_mean": ANY, "prior_std": POSITIVE, "noise_std": POSITIVE},
                   {"n_prob_nodes": NODES}, summary="Gaussian Thompson sampling",
                   fold_logs=_CF),
        PolicySpec("ts_beta", context_free.ts_beta, {"a0": POSITIVE, "b0": POSITIVE},
                   {"n_prob_draws": DRAWS}, binary_rewards=True,
                   summary="Beta–Bernoulli Thompson sampling", fold_logs=_CF),
        PolicySpec("lin_ucb", linear.lin_ucb, {"alpha": NONNEG, "reg": POSITIVE},
                   contextual=True, summary="disjoint LinUCB", fold_logs=_LIN),
        PolicySpec("lin_ts", linear.lin_ts, {"v": NONNEG, "reg": POSITIVE},
                   {"n_prob_nodes": NODES}, contextual=True,
                   summary="linear Thompson sampling", fold_logs=_LIN),
        PolicySpec("lin_eps_greedy", linear.lin_eps_greedy,
                   {"epsilon": PROBABILITY, "reg": POSITIVE}, contextual=True,
                   summary="ε-greedy on per-arm ridge estimates", fold_logs=_LIN),
        # One ridge regression over every arm's own features (World.arm_features).
        PolicySpec("lin_ucb_shared", linear_shared.lin_ucb_shared,
                   {"alpha": NONNEG, "reg": POSITIVE}, {"arm_features": ARM_FEATURES},
                   contextual=True, summary="LinUCB with coefficients shared by the arms",
                   fold_logs=linear_shared.fold_logs),
        PolicySpec("lin_ts_shared", linear_shared.lin_ts_shared,
                   {"v": NONNEG, "reg": POSITIVE},
                   {"arm_features": ARM_FEATURES, "n_prob_nodes": NODES}, contextual=True,
                   summary="linear Thompson sampling with coefficients shared by the arms",
                   fold_logs=linear_shared.fold_logs),
        # Built for drift: their state depends on when each row happened, so they have
        # no sufficient statistics to fold logs into (fold_logs=None).
        PolicySpec("discounted_lin_ucb", drift_linear.discounted_lin_ucb,
                   {"gamma": DISCOUNT, "alpha": NONNEG, "reg": POSITIVE}, contextual=True,
                   summary="discounted disjoint LinUCB (D-LinUCB)"),
        PolicySpec("discounted_ucb", drift.discounted_ucb,
                   {"gamma": DISCOUNT, "xi": POSITIVE, "bound": POSITIVE},
                   summary="discounted UCB (D-UCB)"),
        PolicySpec("sliding_window_ucb", drift.sliding_window_ucb,
                   {"xi": POSITIVE, "bound": POSITIVE}, {"window": WINDOW},
                   summary="sliding-window UCB (SW-UCB)"),
        PolicySpec("discounted_ts", drift.discounted_ts,
                   {"gamma": DISCOUNT, "a0": POSITIVE, "b0": POSITIVE},
                   {"n_prob_draws": DRAWS}, binary_rewards=True,
                   summary="discounted Beta–Bernoulli Thompson sampling"),
        PolicySpec("decaying_eps_greedy", drift.decaying_eps_greedy,
                   {"epsilon0": PROBABILITY, "decay": POSITIVE},
                   summary="ε-greedy with ε_t = min(1, ε₀·c/(c + t))"),
        PolicySpec("restart_lin_ucb", combinators.restart_lin_ucb,
                   {"alpha": NONNEG, "reg": POSITIVE, "threshold": POSITIVE,
                    "tolerance": NONNEG}, contextual=True,
                   summary="disjoint LinUCB restarted by a Page–Hinkley test"),
        # Neural: a network trained on a replay buffer every train_every rounds; no
        # sufficient statistics to fold logs into: they replay logs in order.
        PolicySpec("neural_eps_greedy", neural.neural_eps_greedy,
                   {"epsilon": PROBABILITY, **TRAINING}, NETWORK, contextual=True,
                   summary="ε-greedy on an MLP's predicted rewards", replays_logs=True),
        PolicySpec("neural_linear", neural.neural_linear,
                   {"v": NONNEG, "reg": POSITIVE, **TRAINING},
                   {**NETWORK, "n_prob_nodes": NODES}, contextual=True,
                   summary="NeuralLinear: Thompson sampling on an MLP's last layer",
                   replays_logs=True),
        PolicySpec("neural_ucb", neural.neural_ucb,
                   {"gamma": NONNEG, "reg": POSITIVE, **TRAINING}, NETWORK,
                   contextual=True, summary="NeuralUCB (diagonal design matrix)",
                   replays_logs=True),
        PolicySpec("neural_ts", neural.neural_ts,
                   {"nu": NONNEG, "reg": POSITIVE, **TRAINING},
                   {**NETWORK, "n_prob_nodes": NODES}, contextual=True,
                   summary="NeuralTS (diagonal design matrix)", replays_logs=True),
    ]
}


def _check_spec(name: Any, policy_spec: Any) -> None:
    """Raises ``ConfigError`` unless ``policy_spec`` is a well-formed PolicySpec for ``name``."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a bandit name must be a non-empty string, got {name!r}")
    if not isinstance(policy_spec, PolicySpec):
        raise ConfigError(f"bandit {name!r}: expected a PolicySpec, got "
                          f"{type(policy_spec).__name__}")
    if policy_spec.name != name:
        raise ConfigError(f"bandit {name!r}: its PolicySpec is named {policy_spec.name!r}")
    if not callable(policy_spec.factory):
        raise ConfigError(f"bandit {name!r}: factory must be callable")
    if policy_spec.fold_logs is not None and not callable(policy_spec.fold_logs):
        raise ConfigError(f"bandit {name!r}: fold_logs must be callable or None")
    for kind, ranges in (("params", policy_spec.params), ("static", policy_spec.static)):
        for key, allowed in ranges.items():
            if not isinstance(allowed, Range | Choice) or (kind == "params"
                                                            and isinstance(allowed, Choice)):
                raise ConfigError(f"bandit {name!r}: {kind}[{key!r}] must be a Range (or, "
                                  f"static, a Choice), got {allowed!r}")


def register(name: str, policy_spec: PolicySpec) -> PolicySpec:
    """Makes an algorithm available to :func:`make`, :func:`validate` and training.

    Args:
        name: the registry name; must equal ``policy_spec.name`` and the ``name`` of the
            policies its factory builds (training looks the spec up by ``Policy.name``).
        policy_spec: how to build, check and train it.

    Raises:
        ConfigError: a malformed spec, or another spec already holds ``name``.
    """
    _check_spec(name, policy_spec)
    if REGISTRY.get(name, policy_spec) is not policy_spec:
        raise ConfigError(f"bandit {name!r} is already registered")
    REGISTRY[name] = policy_spec
    return policy_spec


def unregister(name: str) -> None:
    """Removes a registered algorithm (unknown names raise ``ConfigError``)."""
    spec(name)
    del REGISTRY[name]


@contextlib.contextmanager
def registered(name: str, policy_spec: PolicySpec) -> Iterator[PolicySpec]:
    """Registers an algorithm for the duration of a ``with`` block."""
    register(name, policy_spec)
    try:
        yield policy_spec
    finally:
        unregister(name)


def names() -> list[str]:
    """Every registered algorithm."""
    return list(REGISTRY)


def spec(name: str) -> PolicySpec:
    """The spec registered under ``name``."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown bandit {name!r}; allowed: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def validate(name: str, values: Mapping[str, Any], where: str | None = None) -> None:
    """Checks hyperparameter names and values; raises ``ValueError`` naming the key
    (``ConfigError`` for an unknown one)."""
    s = spec(name)
    where = where or f"bandit.{name}"
    allowed = {**s.params, **s.static}
    for key, value in values.items():
        if key not in allowed:
            raise ConfigError(f"{where} has no key {key!r}; allowed: "
                              f"{', '.join(allowed) or '(none)'}")
        allowed[key].check(f"{where}.{key}", value)


def make(name: str, n_arms: int, dim: int, **values: Any) -> Policy:
    """Builds a validated policy whose ``default_params`` carry ``values``."""
    check_int("n_arms", n_arms)
    check_int("dim", dim)
    validate(name, values)
    s = spec(name)
    static = {k: v for k, v in values.items() if k in s.static}
    numeric = {k: float(v) for k, v in values.items() if k in s.params}
    policy = s.factory(n_arms, dim, **static)
    params = policy.default_params._replace(**numeric)
    params = type(params)(*(float(v) for v in params))
    return policy._replace(default_params=params)
