"""Logged data from labelled datasets: a behaviour policy fitted on part of the rows
logs the rest, with the exact value of any target policy.

The datasets and their exact mean rewards are those of
:class:`envs.worlds.supervised.SupervisedWorld`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs.data.logged import LoggedData
from envs.data.validation import check_count, check_target
from envs.worlds.supervised import check_dataset, load_table

BEHAVIOURS = ("softmax", "uniform")  # how the behaviour policy turns scores into probabilities
MODELS = ("logistic", "ridge")  # the classifier the behaviour policy is fitted as


def split_rows(dataset: str, fit_fraction: float = 0.5,
               split_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_rows, log_rows)``: a stratified split of the dataset's rows.

    ``fit_fraction`` of each class (rounded) fits the behaviour model; logs draw from the
    rest. Both are sorted row indices.
    """
    check_dataset(dataset)
    if not isinstance(fit_fraction, (int, float)) or not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction must be a number in (0, 1), got {fit_fraction!r}")
    y = load_table(dataset).label
    rng = np.random.default_rng(split_seed)
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]  # rows by class, shuffled within
    counts = np.bincount(y)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(y)) - starts[y[order]]
    n_fit = np.round(fit_fraction * counts).astype(int)
    fit = rank < n_fit[y[order]]
    return np.sort(order[fit]), np.sort(order[~fit])


def _scores(dataset: str, model: str, fit_fraction: float, split_seed: int,
            intercept: bool) -> np.ndarray:
    """(n, K) classifier scores for every row, fitted on the fit rows only."""
    return _scores_cached(dataset, model, float(fit_fraction), int(split_seed), intercept)


@functools.lru_cache(maxsize=32)
def _scores_cached(dataset, model, fit_fraction, split_seed, intercept) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression, Ridge

    t = load_table(dataset, intercept)
    fit, _ = split_rows(dataset, fit_fraction, split_seed)
    x = t.context.astype(np.float64)
    if model == "logistic":
        clf = LogisticRegression(max_iter=5000).fit(x[fit], t.label[fit])
        s = clf.predict_log_proba(x)  # softmax(s / τ) ∝ p^(1/τ); τ = 1: the model's p
    else:
        onehot = np.eye(t.n_classes)[t.label]
        s = Ridge(alpha=1.0).fit(x[fit], onehot[fit]).predict(x)
    s.setflags(write=False)
    return s


def behaviour_probs(dataset: str, *, behaviour: str = "softmax", model: str = "logistic",
                    temperature: float = 1.0, epsilon: float = 0.1, fit_fraction: float = 0.5,
                    split_seed: int = 0, intercept: bool = False) -> np.ndarray:
    """(n, K) float64: the behaviour policy's probabilities at every row of the dataset.

    ``softmax``: (1 − ε)·softmax(scores / τ) + ε/K, scores from a classifier (``logistic``:
    log-probabilities of a logistic regression; ``ridge``: a ridge fit of one-hot labels)
    fitted on the ``fit_rows`` of :func:`split_rows`. ``uniform``: 1/K.
    """
    check_dataset(dataset)
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}, got {behaviour!r}")
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    for name, value, ok, allowed in (
            ("temperature", temperature, lambda v: v > 0, "a number > 0"),
            ("epsilon", epsilon, lambda v: 0 <= v <= 1, "a number in [0, 1]")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not np.isfinite(value) or not ok(value):
            raise ValueError(f"{name} must be {allowed}, got {value!r}")
    t = load_table(dataset, intercept)
    k = t.n_classes
    if behaviour == "uniform":
        return np.full((len(t.label), k), 1.0 / k)
    s = _scores(dataset, model, fit_fraction, split_seed, intercept) / temperature
    e = np.exp(s - s.max(1, keepdims=True))
    return (1 - epsilon) * e / e.sum(1, keepdims=True) + epsilon / k


def _rng(key_or_seed) -> np.random.Generator:
    if isinstance(key_or_seed, (int, np.integer)) and not isinstance(key_or_seed, bool):
        return np.random.default_rng(int(key_or_seed))
    if isinstance(key_or_seed, jax.Array):
        data = key_or_seed
        if jnp.issubdtype(data.dtype, jax.dtypes.prng_key):
            data = jax.random.key_data(data)
        return np.random.default_rng(np.asarray(data, np.uint32).ravel().tolist())
    raise ValueError(f"key_or_seed must be an int seed or a JAX key, got {key_or_seed!r}")


def _sample(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws, one per row (never an arm of probability 0)."""
    cdf = np.cumsum(probs, 1)
    a = (u[:, None] * cdf[:, -1:] >= cdf).sum(1)
    return np.minimum(a, probs.shape[1] - 1)


def disjoint_contexts(context: np.ndarray, n_arms: int) -> np.ndarray:
    """(n, K·K·d) every row's per-arm features in the disjoint encoding, flattened
    arm-major: arm a's vector e_a ⊗ x holds the row's context x in its block a (as
    ``SupervisedWorld(per_arm=True)`` gives it)."""
    n, d = context.shape
    out = np.zeros((n, n_arms, n_arms, d), context.dtype)
    arms = np.arange(n_arms)
    out[:, arms, arms, :] = context[:, None, :]
    return out.reshape(n, n_arms * n_arms * d)


def supervised_logs(dataset: str, key_or_seed, n_rows: int, *, behaviour: str = "softmax",
                    model: str = "logistic", temperature: float = 1.0, epsilon: float = 0.1,
                    fit_fraction: float = 0.5, split_seed: int = 0, intercept: bool = False,
                    per_arm: bool = False) -> tuple[LoggedData, Callable[..., float]]:
    """``n_rows`` logged rounds of a behaviour policy, and the exact value of any target.

    Rows are drawn uniformly, with replacement, from the ``log_rows`` of
    :func:`split_rows` (the behaviour model never saw them); the action from
    :func:`behaviour_probs` at that row; the reward ~ Bernoulli(P(y = a | x)) (the row's
    own label when its context is unique). ``pscore`` and ``action_dist`` are the exact
    probabilities the actions were drawn from. ``split_seed`` (not the key) fixes the
    split, so logs of different keys share one behaviour policy and one truth. With
    ``per_arm`` the contexts are every arm's features in the disjoint encoding
    (:func:`disjoint_contexts`, ``arm_features = K·d``); the behaviour policy and the
    draws are the same.

    Returns:
        ``(logs, truth)``: ``truth(target_probs_fn)`` is :func:`true_value` over the
        ``log_rows`` — the value every unbiased estimator on these logs aims at.
    """
    n_rows = check_count("n_rows", n_rows, ValueError)
    probs = behaviour_probs(dataset, behaviour=behaviour, model=model,
                            temperature=temperature, epsilon=epsilon,
                            fit_fraction=fit_fraction, split_seed=split_seed,
                            intercept=intercept)
    _, pool = split_rows(dataset, fit_fraction, split_seed)
    t = load_table(dataset, intercept)
    rng = _rng(key_or_seed)
    rows = pool[rng.integers(0, len(pool), n_rows)]
    u_action, u_reward = rng.random((2, n_rows))
    dist = probs[rows]
    action = _sample(dist, u_action)
    reward = (u_reward < t.probs[rows, action]).astype(np.float64)
    context, arm_features = t.context[rows], 0
    if per_arm:
        context = disjoint_contexts(context, t.n_classes)
        arm_features = t.n_classes * t.context.shape[1]
    logs = LoggedData.from_arrays(context=context, action=action, reward=reward,
                                  pscore=dist[np.arange(n_rows), action], action_dist=dist,
                                  n_arms=t.n_classes, arm_features=arm_features)
    truth = functools.partial(true_value, dataset, rows=pool, intercept=intercept,
                              per_arm=per_arm)
    return logs, truth


def true_value(dataset: str, target_probs_fn: Callable, rows: np.ndarray | None = None,
               intercept: bool = False, per_arm: bool = False) -> float:
    """V(π) = mean over rows i of Σ_a π(a | x_i) · P(y = a | x_i), exactly.

    Args:
        dataset: one of :data:`DATASETS`.
        target_probs_fn: contexts (n, dim) float32 -> probabilities (n, K) (NumPy or
            JAX), the contexts as :func:`load_table` / the world give them.
        rows: row indices to average over (default: every row).
        intercept: whether contexts carry the leading constant 1.
        per_arm: whether ``target_probs_fn`` reads the disjoint per-arm encoding
            (:func:`disjoint_contexts`).
    """
    t = load_table(dataset, intercept)
    idx = np.arange(len(t.label)) if rows is None else np.asarray(rows)
    context = disjoint_contexts(t.context[idx], t.n_classes) if per_arm else t.context[idx]
    pi = np.asarray(target_probs_fn(context), np.float64)
    check_target(pi, len(idx), t.n_classes, name="target_probs_fn(context)")
    return float(np.mean(np.sum(pi * t.probs[idx], 1)))
