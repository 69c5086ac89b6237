"""Reward models q̂(x, a) for the direct method and doubly robust estimators.

Every model is a pair of pure functions, ``fit(key, X, action, reward, weight) -> model``
and ``predict(model, X) -> (n, K)``, so folds, datasets and hyperparameters can all be
``vmap``-ed. Row weights are how folds are held out: a row of weight 0 does not exist for
the fit, and :func:`cross_fit` never scores a row with a model that saw it.

* :func:`ridge` — one ridge regression per action, in closed form;
* :func:`ridge_shared` — one ridge regression over every arm's own features (per-arm
  contexts, ``World.arm_features``), shared by the arms;
* :func:`mlp` — a small network with one output per action trained with optax (AdamW on
  minibatches), the loss counting only each row's logged action.

:data:`REGISTRY` maps each name a ``reward_model`` config (``conf/reward_model/``) can give
to its factory and option ranges; :func:`from_config` builds the configured model and
:func:`out_of_fold` its cross-fitted predictions on one dataset.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from common.errors import ConfigError
from common.validation import Range


class RewardModel(NamedTuple):
    name: str
    fit: Callable[..., Any]  # (key, X (n, d), action (n,), reward (n,), weight (n,)) -> model
    predict: Callable[[Any, Array], Array]  # (model, X (n, d)) -> (n, K)


def _features(X: Array, intercept: bool) -> Array:
    return jnp.concatenate([X, jnp.ones(X.shape[:-1] + (1,), X.dtype)], -1) if intercept \
        else X


def _per_action_sums(Z, action, reward, weight, n_arms: int, chunk: int = 8192):
    """Σ_{i: a_i = a} w_i z_i z_iᵀ and Σ_{i: a_i = a} w_i z_i r_i for every action a.

    Rows are summed in chunks (``lax.scan``), so the (rows, K, d) intermediate of the
    per-action products stays at ``chunk`` rows whatever n is (1.7 GB at n = 10⁶, K = 20,
    d = 21 otherwise).
    """
    n, d = Z.shape

    def sums(z, a, r, w):  # one (K·d, rows) × (rows, d + 1) matrix product
        oh = (a[:, None] == jnp.arange(n_arms)).astype(Z.dtype) * w[:, None]
        ohz = (oh[:, :, None] * z[:, None, :]).reshape(z.shape[0], n_arms * d)
        prod = ohz.T @ jnp.concatenate([z, r[:, None]], axis=1)
        prod = prod.reshape(n_arms, d, d + 1)
        return prod[:, :, :d], prod[:, :, d]

    if n <= chunk:
        return sums(Z, action, reward, weight)
    pad = (-n) % chunk  # padded rows have weight 0
    split = lambda x: jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(
        (-1, chunk) + x.shape[1:])

    def add(acc, c):
        g, b = sums(*c)
        return (acc[0] + g, acc[1] + b), None

    zero = (jnp.zeros((n_arms, d, d), Z.dtype), jnp.zeros((n_arms, d), Z.dtype))
    return jax.lax.scan(add, zero, (split(Z), split(action), split(reward),
                                    split(weight)))[0]


def ridge(n_arms: int, reg: float = 1.0, intercept: bool = True) -> RewardModel:
    """θ_a = (reg·I + Σ_{i: a_i = a} w_i x_i x_iᵀ)⁻¹ Σ_{i: a_i = a} w_i x_i r_i per action."""

    def fit(key, X, action, reward, weight):
        del key
        Z = _features(X, intercept)
        gram, rhs = _per_action_sums(Z, action, reward, weight, n_arms)
        gram = gram + reg * jnp.eye(Z.shape[1])
        return jnp.linalg.solve(gram, rhs[..., None])[..., 0]  # (K, d')

    def predict(theta, X):
        return _features(X, intercept) @ theta.T

    return RewardModel("ridge", fit, predict)


def ridge_shared(n_arms: int, arm_features: int = 1, reg: float = 1.0,
                 intercept: bool = True) -> RewardModel:
    """One ridge regression over every arm's own features (``World.arm_features = d``:
    the context is the K arms' d features flattened arm-major): q̂(x, a) = z_aᵀθ with
    θ = (reg·I + Σ_i w_i z_{a_i} z_{a_i}ᵀ)⁻¹ Σ_i w_i z_{a_i} r_i, z_a arm a's features (and
    an intercept), shared by the arms."""

    def arms(X: Array) -> Array:  # (n, K, d') every arm's features
        if X.shape[-1] != n_arms * arm_features:
            raise ValueError(f"reward_model.arm_features={arm_features} needs contexts of "
                             f"n_arms·d = {n_arms * arm_features} features, got "
                             f"{X.shape[-1]}")
        return _features(X.reshape(X.shape[:-1] + (n_arms, arm_features)), intercept)

    def fit(key, X, action, reward, weight):
        del key
        z = jnp.take_along_axis(arms(X), action[:, None, None], axis=1)[:, 0]  # (n, d')
        gram = (z * weight[:, None]).T @ z + reg * jnp.eye(z.shape[1], dtype=z.dtype)
        return jnp.linalg.solve(gram, (z * weight[:, None]).T @ reward)

    def predict(theta, X):
        return arms(X) @ theta

    return RewardModel("ridge_shared", fit, predict)


def mlp(n_arms: int, hidden: int = 32, steps: int = 1000, batch_size: int = 256,
        learning_rate: float = 3e-3, weight_decay: float = 1e-4) -> RewardModel:
    """One hidden tanh layer, K outputs; squared error on the logged action's output.

    Each of ``steps`` AdamW steps uses a minibatch of ``batch_size`` rows drawn uniformly
    with replacement (``batch_size=0``: every row, full-batch), so a fit costs the same
    whatever the number of rows; held-out rows (weight 0) count for nothing.
    """

    def init(key, d):
        k1, k2 = jax.random.split(key)
        return {"w1": jax.random.normal(k1, (d, hidden)) / jnp.sqrt(d),
                "b1": jnp.zeros(hidden),
                "w2": jax.random.normal(k2, (hidden, n_arms)) / jnp.sqrt(hidden),
                "b2": jnp.zeros(n_arms)}

    def predict(params, X):
        return jnp.tanh(X @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]

    def loss(p, X, action, reward, weight):
        chosen = action[:, None] == jnp.arange(n_arms)
        pred = jnp.sum(jnp.where(chosen, predict(p, X), 0.0), -1)
        return jnp.sum(weight * (pred - reward) ** 2) / jnp.maximum(jnp.sum(weight), 1.0)

    def fit(key, X, action, reward, weight):
        X, action, reward, weight = (jnp.asarray(v) for v in (X, action, reward, weight))
        k_init, k_batch = jax.random.split(key)
        params = init(k_init, X.shape[-1])
        opt = optax.adamw(learning_rate, weight_decay=weight_decay)
        n = X.shape[0]
        full = batch_size == 0 or batch_size >= n

        def step(carry, k):
            p, s = carry
            idx = slice(None) if full else jax.random.randint(k, (batch_size,), 0, n)
            g = jax.grad(loss)(p, X[idx], action[idx], reward[idx], weight[idx])
            updates, s = opt.update(g, s, p)
            return (optax.apply_updates(p, updates), s), None

        keys = jax.random.split(k_batch, steps)
        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), keys)
        return params

    return RewardModel("mlp", fit, predict)


@dataclass(frozen=True)
class RewardModelSpec:
    """A reward model the configs can name.

    Attributes:
        name: the ``reward_model.name`` that picks it (``conf/reward_model/<name>.yaml``).
        factory: ``factory(n_arms, **options) -> RewardModel``.
        options: each option's allowed values: a :class:`Range`, or ``bool`` for a flag.
    """

    name: str
    factory: Callable[..., RewardModel]
    options: Mapping[str, Range | type]


FOLDS = Range(1, 20, integer=True)
DEFAULT = "ridge"  # the model of a config that names none
REGISTRY: dict[str, RewardModelSpec] = {
    s.name: s
    for s in [
        RewardModelSpec("ridge", ridge, {"reg": Range(0.0), "intercept": bool}),
        RewardModelSpec("ridge_shared", ridge_shared, {
            "arm_features": Range(1, 100_000, integer=True), "reg": Range(0.0),
            "intercept": bool}),
        RewardModelSpec("mlp", mlp, {
            "hidden": Range(1, 4096, integer=True), "steps": Range(1, 10**6, integer=True),
            "batch_size": Range(0, 10**9, integer=True),
            "learning_rate": Range(0.0, low_open=True), "weight_decay": Range(0.0)}),
    ]
}


def names() -> list[str]:
    """The reward models a config can name, in registry order."""
    return list(REGISTRY)


def config_or_default(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """``cfg`` as a plain dictionary; ``{"name": DEFAULT}`` when it is empty or None."""
    return dict(cfg or {"name": DEFAULT})


def default_config() -> dict[str, Any]:
    """The default model's config with every option at the factory's default value."""
    factory = inspect.signature(REGISTRY[DEFAULT].factory).parameters
    options = {k: factory[k].default for k in REGISTRY[DEFAULT].options}
    return {"name": DEFAULT, **options,
            "n_folds": inspect.signature(cross_fit).parameters["n_folds"].default}


def describe(cfg: Mapping[str, Any] | None) -> str:
    """``"name=ridge, reg=1.0, n_folds=2"``: a reward-model config in words, for reports."""
    return ", ".join(f"{k}={v}" for k, v in config_or_default(cfg).items())


def _check_option(name: str, key: str, value: Any) -> None:
    """Checks one option of model ``name`` against its allowed values."""
    spec = REGISTRY[name]
    if key not in spec.options:
        others = " or ".join(f"reward_model={n}" for n in REGISTRY if n != name)
        raise ConfigError(f"reward_model ({name}) has no key {key!r}; allowed: "
                          f"{', '.join([*spec.options, 'n_folds'])} (switch models with "
                          f"{others}, not reward_model.name)")
    rule = spec.options[key]
    if key == "arm_features" and value is None:  # the data's, at from_config
        return
    if rule is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"reward_model.{key} must be true or false, got {value!r}")
    else:
        rule.check(f"reward_model.{key}", value)


def check_config(cfg: Mapping[str, Any] | None) -> tuple[str, dict[str, Any], int]:
    """``(name, options, n_folds)`` of a ``reward_model`` config, every key checked.

    Every key is checked against the model's options and their ranges, so a key of
    another model (``reg`` on the MLP) or a bad value stops before anything is compiled.
    """
    opts = config_or_default(cfg)
    name = opts.pop("name", None)
    if name not in REGISTRY:
        raise ConfigError(f"reward_model.name must be one of {', '.join(REGISTRY)}, got "
                          f"{name!r}; choose a model with "
                          + " or ".join(f"reward_model={n}" for n in REGISTRY))
    n_folds = opts.pop("n_folds", 2)
    FOLDS.check("reward_model.n_folds", n_folds)
    for key, value in opts.items():
        _check_option(name, key, value)
    return name, opts, int(n_folds)


def resolve_arm_features(opts: dict[str, Any], arm_features: int) -> None:
    """Sets a per-arm model's ``arm_features`` left null to the data's (or the world's)
    ``arm_features``; refuses a value that contradicts it, or null on a shared context."""
    given = opts.get("arm_features")
    if given is None and not arm_features:
        raise ConfigError("reward_model.arm_features is null and the data has one context "
                          "shared by the arms (arm_features=0): give the features per arm, "
                          "e.g. reward_model.arm_features=20, or choose reward_model=ridge")
    if given is not None and arm_features and given != arm_features:
        raise ConfigError(f"reward_model.arm_features={given}, but the data has "
                          f"{arm_features} features per arm")
    opts["arm_features"] = arm_features if given is None else given


def from_config(cfg: Mapping[str, Any] | None, n_arms: int,
                arm_features: int = 0) -> tuple[RewardModel, int]:
    """``(model, n_folds)`` from a ``reward_model`` config (``conf/reward_model/``), checked
    by :func:`check_config`; the model has ``n_arms`` outputs. A per-arm model's
    ``arm_features: null`` is the data's ``arm_features`` (features per arm; 0: a shared
    context)."""
    name, opts, n_folds = check_config(cfg)
    if "arm_features" in REGISTRY[name].options:
        resolve_arm_features(opts, int(arm_features))
    return REGISTRY[name].factory(n_arms, **opts), n_folds


def out_of_fold(cfg: Mapping[str, Any] | None, key: Array, context, action, reward,
                n_arms: int, arm_features: int = 0) -> np.ndarray:
    """Cross-fitted q̂(x, a) of the configured model on one dataset, as one compiled program.

    Args:
        cfg: a ``reward_model`` config (see :func:`from_config`).
        key: the PRNG key of the folds and the fits.
        context: (n, d) contexts; action: (n,) logged actions; reward: (n,) rewards.
        n_arms: K, the number of actions.
        arm_features: the data's features per arm (0: a shared context).

    Returns:
        (n, K) out-of-fold predictions (see :func:`cross_fit`).
    """
    model, n_folds = from_config(cfg, n_arms, arm_features)
    fit = jax.jit(functools.partial(cross_fit, model, n_folds=n_folds))
    q = fit(key, jnp.asarray(context, jnp.float32), jnp.asarray(action),
            jnp.asarray(reward, jnp.float32))
    return np.asarray(q)


def fold_ids(key: Array, n: int, n_folds: int) -> Array:
    """A random balanced assignment of n rows to ``n_folds`` folds."""
    return (jax.random.permutation(key, n) % n_folds).astype(jnp.int32)


def cross_fit(model: RewardModel, key: Array, X: Array, action: Array, reward: Array,
              n_folds: int = 2) -> Array:
    """Out-of-fold q̂ (n, K): row i is scored by the model fitted without its fold.

    With ``n_folds = 1`` the model is fitted on every row and scores every row (in-sample).
    """
    k_fold, k_fit = jax.random.split(key)
    n = X.shape[0]
    if n_folds == 1:
        return model.predict(model.fit(k_fit, X, action, reward, jnp.ones(n, X.dtype)), X)
    folds = fold_ids(k_fold, n, n_folds)

    def one(f):
        weight = (folds != f).astype(X.dtype)
        return model.predict(model.fit(jax.random.fold_in(k_fit, f), X, action, reward,
                                       weight), X)

    preds = jax.vmap(one)(jnp.arange(n_folds))  # (folds, n, K)
    return jnp.take_along_axis(preds, folds[None, :, None], 0)[0]
