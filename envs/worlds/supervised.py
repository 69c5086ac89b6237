"""Bandits from labelled data: K classes are K arms, reward 1 for the true class.

scikit-learn's bundled datasets (``digits``, ``wine``, ``breast_cancer``, ``iris``; no
network) become

* an online world, :class:`SupervisedWorld` (``envs.make("supervised", dataset="wine")``):
  each round draws a row uniformly; the context is its standardised features;
* logged data from a behaviour policy, :func:`supervised_logs`, with the exact value of
  any target policy, :func:`true_value`.

**Mean rewards are exact.** μ(x, a) = P(y = a | x) under the dataset's empirical
distribution: 1 for the true class when x is unique, class frequencies among exact
duplicates. Duplicates are judged on the float32 context the policy sees. (Of the four
datasets only ``iris`` has one: two identical rows, both of class 2, so every μ is still
one-hot.) Regret is therefore exact, not estimated.

The rollout engine hands ``mean_rewards`` only the context, so the world recognises the row
from the context itself: a 32-bit hash of the float32 bit patterns, looked up in a sorted
table of the dataset's hashes. The hash adds up one mixed word per feature with wrapping
uint32 arithmetic, which is exact and order-free, so it is the same in NumPy, under
``jit``, ``vmap`` or the lane transform, whatever order XLA reduces in. Construction checks
that distinct contexts get distinct hashes (and re-salts the hash if they do not). A context
the world did not draw gets NaN mean rewards.

Standardisation uses the mean and standard deviation of the whole dataset (a constant
feature is centred and left unscaled). With ``intercept`` the first feature is the
constant 1, as in the linear worlds.

Memory: the params pytree holds the table (features, hashes, class probabilities); the
engine gives every lane its own copy — about 0.55 MB for ``digits``, under 100 KB for the
others.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from envs.data.logged import LoggedData, check_target
from envs.worlds.base import World, eligible_mask

DATASETS = ("digits", "wine", "breast_cancer", "iris")
BEHAVIOURS = ("softmax", "uniform")
MODELS = ("logistic", "ridge")

_MAX_SALTS = 16


def _check_dataset(dataset) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")


# ----------------------------------------------------------------------------- tables


class Table(NamedTuple):
    """A dataset as the bandit sees it (NumPy, read-only)."""

    context: np.ndarray  # (n, dim) float32 standardised features (+ intercept first)
    label: np.ndarray  # (n,) int32 class of each row
    probs: np.ndarray  # (n, K) float64 P(y = a | x_i) over rows with the same context
    n_classes: int


def conditional_probs(context: np.ndarray, label: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, K) P(y = a | x_i): class frequencies among the rows whose context equals x_i."""
    _, group = np.unique(context, axis=0, return_inverse=True)
    group = group.ravel()
    counts = np.zeros((group.max() + 1, n_classes))
    np.add.at(counts, (group, label), 1.0)
    return (counts / counts.sum(1, keepdims=True))[group]


@functools.cache
def load_table(dataset: str, intercept: bool = False) -> Table:
    """The standardised dataset with its exact conditional class probabilities."""
    _check_dataset(dataset)
    from sklearn import datasets as skd

    bunch = getattr(skd, f"load_{dataset}")()
    x = np.asarray(bunch.data, np.float64)
    std = x.std(0)
    z = ((x - x.mean(0)) / np.where(std > 0, std, 1.0)).astype(np.float32)
    if intercept:
        z = np.concatenate([np.ones((len(z), 1), np.float32), z], 1)
    z[z == 0] = 0.0  # no negative zeros: equal values, equal bits
    _, label = np.unique(np.asarray(bunch.target), return_inverse=True)
    label = label.astype(np.int32)
    k = int(label.max()) + 1
    table = Table(z, label, conditional_probs(z, label, k), k)
    for a in table[:3]:
        a.setflags(write=False)
    return table


# ------------------------------------------------------------------------------ hash


def _fmix32(h, xp):
    """MurmurHash3's 32-bit finaliser (a bijection on uint32), for NumPy or jax.numpy."""
    u = xp.uint32
    h = h ^ (h >> u(16))
    h = h * u(0x85EBCA6B)
    h = h ^ (h >> u(13))
    h = h * u(0xC2B2AE35)
    return h ^ (h >> u(16))


def _salt_words(dim: int, salt: int) -> np.ndarray:
    """(dim,) uint32 per-feature keys."""
    with np.errstate(over="ignore"):
        j = np.arange(dim, dtype=np.uint32) + np.uint32(1)
        return _fmix32(j * np.uint32(0x9E3779B9) + np.uint32(salt * 0x2545F491 + 17), np)


def context_hash(context, words):
    """uint32 hash of float32 contexts (..., dim): fmix(Σ_j fmix(bits_j ^ word_j)).

    Each term is a bijection of one feature's bits, and the sum wraps modulo 2^32, so the
    result is exact and independent of the order of summation. Works on NumPy arrays and
    traced JAX arrays alike; zeros are folded to +0 first.
    """
    if isinstance(context, np.ndarray):
        x = np.where(context == 0, np.float32(0), context).astype(np.float32)
        with np.errstate(over="ignore"):
            terms = _fmix32(x.view(np.uint32) ^ words, np)
            return _fmix32(terms.sum(-1, dtype=np.uint32), np)
    x = jnp.where(context == 0, jnp.float32(0), context.astype(jnp.float32))
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
    terms = _fmix32(bits ^ words, jnp)
    return _fmix32(jnp.sum(terms, -1, dtype=jnp.uint32), jnp)


class HashTable(NamedTuple):
    words: np.ndarray  # (dim,) uint32 per-feature keys
    hashes: np.ndarray  # (m,) uint32 sorted hashes of the distinct contexts
    probs: np.ndarray  # (m, K) float32 P(y = a | x) of each
    salt: int


@functools.cache
def hash_table(dataset: str, intercept: bool = False) -> HashTable:
    """The sorted hashes of the distinct contexts, checked collision-free."""
    t = load_table(dataset, intercept)
    ctx, first = np.unique(t.context, axis=0, return_index=True)
    for salt in range(_MAX_SALTS):
        words = _salt_words(t.context.shape[1], salt)
        h = context_hash(ctx, words)
        if len(np.unique(h)) == len(h):
            order = np.argsort(h)
            return HashTable(words, h[order], t.probs[first][order].astype(np.float32), salt)
    raise ValueError(f"dataset {dataset!r}: no collision-free context hash in {_MAX_SALTS} "
                     f"salts")


# ----------------------------------------------------------------------------- world


class SupervisedParams(NamedTuple):
    context: Array  # (n, dim) float32 every row's context
    words: Array  # (dim,) uint32 hash keys
    hashes: Array  # (m,) uint32 sorted hashes of the distinct contexts
    probs: Array  # (m, K) float32 P(y = a | x) in hash order


@dataclass(frozen=True)
class SupervisedWorld(World):
    """A labelled dataset as a K-armed contextual bandit with Bernoulli rewards.

    Each round draws a row uniformly; the context is its standardised features (with a
    leading 1 when ``intercept``); arm a pays 1 with probability P(y = a | x) (see the
    module docstring). ``n_arms`` (classes) and ``dim`` follow from the dataset.
    """

    dataset: str = "wine"
    intercept: bool = False
    p_eligible: float = 1.0
    n_arms: int = field(init=False)
    dim: int = field(init=False)
    name: ClassVar[str] = "supervised"
    binary_rewards: ClassVar[bool] = True

    def __post_init__(self):
        _check_dataset(self.dataset)
        if not isinstance(self.intercept, bool):
            raise ValueError(f"env.intercept must be true or false, got {self.intercept!r}")
        t = load_table(self.dataset, self.intercept)
        hash_table(self.dataset, self.intercept)  # checks distinct contexts, distinct hashes
        object.__setattr__(self, "n_arms", t.n_classes)
        object.__setattr__(self, "dim", t.context.shape[1])

    @property
    def n_rows(self) -> int:
        return load_table(self.dataset, self.intercept).context.shape[0]

    def sample_params(self, key: Array) -> SupervisedParams:
        """The dataset tables (the same for every key: a dataset is one world)."""
        del key
        t = load_table(self.dataset, self.intercept)
        h = hash_table(self.dataset, self.intercept)
        return SupervisedParams(jnp.asarray(t.context), jnp.asarray(h.words),
                                jnp.asarray(h.hashes), jnp.asarray(h.probs))

    def sample_context(self, key: Array, params: SupervisedParams, state) -> tuple[Array, Array]:
        k_x, k_m = jax.random.split(key)
        row = jax.random.randint(k_x, (), 0, params.context.shape[0])
        x = params.context[row]
        if self.p_eligible >= 1.0:
            return x, jnp.ones((self.n_arms,), bool)
        return x, eligible_mask(k_m, self.n_arms, self.p_eligible)

    def mean_rewards(self, params: SupervisedParams, state, context: Array) -> Array:
        h = context_hash(context, params.words)
        m = params.hashes.shape[0]
        i = jnp.minimum(jnp.searchsorted(params.hashes, h, method="scan_unrolled"), m - 1)
        found = params.hashes[i] == h
        return jnp.where(found, params.probs[i], jnp.nan)


# ------------------------------------------------------------------- logged data


def split_rows(dataset: str, fit_fraction: float = 0.5,
               split_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_rows, log_rows)``: a stratified split of the dataset's rows.

    ``fit_fraction`` of each class (rounded) fits the behaviour model; logs draw from the
    rest. Both are sorted row indices.
    """
    _check_dataset(dataset)
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
    _check_dataset(dataset)
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


def supervised_logs(dataset: str, key_or_seed, n_rows: int, *, behaviour: str = "softmax",
                    model: str = "logistic", temperature: float = 1.0, epsilon: float = 0.1,
                    fit_fraction: float = 0.5, split_seed: int = 0,
                    intercept: bool = False) -> tuple[LoggedData, Callable[..., float]]:
    """``n_rows`` logged rounds of a behaviour policy, and the exact value of any target.

    Rows are drawn uniformly, with replacement, from the ``log_rows`` of
    :func:`split_rows` (the behaviour model never saw them); the action from
    :func:`behaviour_probs` at that row; the reward ~ Bernoulli(P(y = a | x)) (the row's
    own label when its context is unique). ``pscore`` and ``action_dist`` are the exact
    probabilities the actions were drawn from. ``split_seed`` (not the key) fixes the
    split, so logs of different keys share one behaviour policy and one truth.

    Returns:
        ``(logs, truth)``: ``truth(target_probs_fn)`` is :func:`true_value` over the
        ``log_rows`` — the value every unbiased estimator on these logs aims at.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < 1:
        raise ValueError(f"n_rows must be an integer >= 1, got {n_rows!r}")
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
    logs = LoggedData.from_arrays(context=t.context[rows], action=action, reward=reward,
                                  pscore=dist[np.arange(n_rows), action], action_dist=dist,
                                  n_arms=t.n_classes)
    truth = functools.partial(true_value, dataset, rows=pool, intercept=intercept)
    return logs, truth


def true_value(dataset: str, target_probs_fn: Callable, rows: np.ndarray | None = None,
               intercept: bool = False) -> float:
    """V(π) = mean over rows i of Σ_a π(a | x_i) · P(y = a | x_i), exactly.

    Args:
        dataset: one of :data:`DATASETS`.
        target_probs_fn: contexts (n, dim) float32 -> probabilities (n, K) (NumPy or
            JAX), the contexts as :func:`load_table` / the world give them.
        rows: row indices to average over (default: every row).
        intercept: whether contexts carry the leading constant 1.
    """
    t = load_table(dataset, intercept)
    idx = np.arange(len(t.label)) if rows is None else np.asarray(rows)
    pi = np.asarray(target_probs_fn(t.context[idx]), np.float64)
    check_target(pi, len(idx), t.n_classes, name="target_probs_fn(context)")
    return float(np.mean(np.sum(pi * t.probs[idx], 1)))
