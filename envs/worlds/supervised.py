"""Bandits from labelled data: K classes are K arms, reward 1 for the true class.

scikit-learn's bundled datasets (``digits``, ``wine``, ``breast_cancer``, ``iris``; no
network) become

* an online world, :class:`SupervisedWorld` (``envs.make("supervised", dataset="wine")``):
  each round draws a row uniformly; the context is its standardised features;
* logged data from a behaviour policy, :func:`envs.data.supervised.supervised_logs`,
  with the exact value of any target policy (:mod:`envs.data.supervised`).

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

**Per-arm features.** With ``per_arm`` the world describes each arm by its own vector, the
disjoint encoding of the drawn row x (d features, the intercept included): arm a's vector
is e_a ⊗ x, K·d features whose block a holds x and the others 0
(:func:`bandits.arm_features.arm_inputs`). So ``arm_features = K·d``, the context is the
K vectors flattened arm-major, ``dim = K·K·d``, and the row is the context's first d
entries (arm 0's block 0). The same key draws the same row, mask and rewards as without
``per_arm``; a shared-parameter policy over these features is the disjoint policy over x.
A context that is not the encoding of a drawn row gets NaN mean rewards.

Memory: the params pytree holds the table (features, hashes, class probabilities); the
engine gives every lane its own copy — about 0.55 MB for ``digits``, under 100 KB for the
others.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bandits.arm_features import arm_inputs
from common.validation import Choice, Flag
from envs.worlds.base import P_ELIGIBLE, Option, World, eligible_mask

DATASETS = ("digits", "wine", "breast_cancer", "iris")

_MAX_SALTS = 16


def check_dataset(dataset) -> None:
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
    check_dataset(dataset)
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
    module docstring). ``n_arms`` (classes) and ``dim`` follow from the dataset; with
    ``per_arm`` every arm gets the disjoint encoding of the row as its own features
    (``arm_features = K·d``, ``dim = K·K·d`` for d features per row).
    """

    dataset: str = "wine"
    intercept: bool = False
    p_eligible: float = 1.0
    per_arm: bool = False
    n_arms: int = field(init=False)
    dim: int = field(init=False)
    arm_features: int = field(init=False)
    name: ClassVar[str] = "supervised"
    draws_read_state: ClassVar[bool] = False  # contexts and noise from the key alone
    binary_rewards: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "dataset": Choice(DATASETS), "intercept": Flag(), "p_eligible": P_ELIGIBLE,
        "per_arm": Flag(),
    }

    def __post_init__(self):
        check_dataset(self.dataset)
        self.OPTIONS["intercept"].check("env.intercept", self.intercept)
        self.OPTIONS["per_arm"].check("env.per_arm", self.per_arm)
        t = load_table(self.dataset, self.intercept)
        hash_table(self.dataset, self.intercept)  # checks distinct contexts, distinct hashes
        k, d = t.n_classes, t.context.shape[1]
        object.__setattr__(self, "n_arms", k)
        object.__setattr__(self, "arm_features", k * d if self.per_arm else 0)
        object.__setattr__(self, "dim", k * k * d if self.per_arm else d)

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
        if self.per_arm:
            x = arm_inputs(x, self.n_arms, 0).reshape(self.dim)
        if self.p_eligible >= 1.0:
            return x, jnp.ones((self.n_arms,), bool)
        return x, eligible_mask(k_m, self.n_arms, self.p_eligible)

    def mean_rewards(self, params: SupervisedParams, state, context: Array) -> Array:
        """(K,) P(y = a | x) for the row x the context holds; NaN for a context the world
        does not draw (with ``per_arm``, also one that is not x's disjoint encoding)."""
        x = context[:self.arm_features // self.n_arms] if self.per_arm else context
        h = context_hash(x, params.words)
        m = params.hashes.shape[0]
        i = jnp.minimum(jnp.searchsorted(params.hashes, h, method="scan_unrolled"), m - 1)
        found = params.hashes[i] == h
        if self.per_arm:
            encoded = arm_inputs(x, self.n_arms, 0).reshape(self.dim)
            found = found & jnp.all(context == encoded)
        return jnp.where(found, params.probs[i], jnp.nan)
