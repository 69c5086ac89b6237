"""Context-free bandits: every arm has one unknown mean reward, whatever the context.

They keep per-arm pull counts and reward sums and ignore the context vector. Each factory
returns a :class:`bandits.base.Policy`; see that module for the protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bandits.base import (
    Decision,
    Policy,
    draw_gaussian_scores,
    draw_tiebreak,
    draw_uniform,
    epsilon_mix,
    gaussian_thompson,
    greedy,
    masked_softmax,
    one_hot,
    stochastic,
    thompson_probs,
    uniform_probs,
)


class ArmStats(NamedTuple):
    counts: Array  # (n_arms,) pulls of each arm
    sums: Array  # (n_arms,) sum of rewards of each arm


def _init_stats(n_arms: int):
    def init(params, key):
        del params, key
        zeros = jnp.zeros((n_arms,), jnp.float32)
        return ArmStats(zeros, zeros)

    return init


def _update_stats(n_arms: int):
    def update(params, state: ArmStats, context, action, reward):
        del params, context
        w = one_hot(action, n_arms)
        return ArmStats(state.counts + w, state.sums + w * reward)

    return update


def fold_logs(state: ArmStats, batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]
              ) -> ArmStats:
    """The statistics after every logged row, batch by batch (float64 on the host).

    Args:
        state: the statistics to continue from (``counts`` and ``sums``, (n_arms,)).
        batches: ``(context (b, dim), action (b,) int64, reward (b,))`` in time order;
            the context is not used.

    Returns:
        ``ArmStats`` in float32, as ``update`` on every row in turn would hold them
        (without float32 rounding along the way).
    """
    if not isinstance(state, ArmStats):
        raise ValueError(f"a context-free policy trains from an ArmStats state, got "
                         f"{type(state).__name__}")
    counts = np.asarray(state.counts, np.float64).copy()
    sums = np.asarray(state.sums, np.float64).copy()
    k = counts.shape[0]
    for _, a, r in batches:
        counts += np.bincount(a, minlength=k)
        sums += np.bincount(a, weights=r, minlength=k)
    return ArmStats(jnp.asarray(counts, np.float32), jnp.asarray(sums, np.float32))


def _sample_means(state: ArmStats, initial_value: Array) -> Array:
    tried = state.counts > 0
    return jnp.where(tried, state.sums / jnp.maximum(state.counts, 1.0), initial_value)


# ------------------------------------------------------------------------ uniform


class UniformParams(NamedTuple):
    pass


def uniform(n_arms: int, dim: int = 1) -> Policy:
    """Uniformly random over eligible arms (the classic logging policy)."""

    def decide(params, state, noise, context, mask) -> Decision:
        return stochastic(uniform_probs(mask), noise["u"])

    return Policy("uniform", n_arms, dim, UniformParams(), _init_stats(n_arms), draw_uniform,
                  decide, _update_stats(n_arms))


# ------------------------------------------------------------------------ ε-greedy


class EpsGreedyParams(NamedTuple):
    epsilon: Array = 0.1  # exploration probability, in [0, 1]
    initial_value: Array = 0.0  # estimate used for an arm never pulled


def eps_greedy(n_arms: int, dim: int = 1) -> Policy:
    """ε-greedy on sample means: greedy with probability 1 - ε, else uniform.

    Probabilities are exact: (1 - ε) split evenly over the tied best eligible arms plus
    ε / (number of eligible arms) on every eligible arm.
    """

    def decide(params, state, noise, context, mask) -> Decision:
        means = _sample_means(state, params.initial_value)
        g = greedy(means, mask, jnp.zeros(())).probs
        return stochastic(epsilon_mix(g, mask, params.epsilon), noise["u"])

    return Policy("eps_greedy", n_arms, dim, EpsGreedyParams(), _init_stats(n_arms),
                  draw_uniform, decide, _update_stats(n_arms))


# ------------------------------------------------------------------------ softmax


class SoftmaxParams(NamedTuple):
    temperature: Array = 0.1  # τ > 0; small τ is greedy, large τ uniform
    initial_value: Array = 0.0


def softmax(n_arms: int, dim: int = 1) -> Policy:
    """Boltzmann exploration: P(a) ∝ exp(mean_a / τ) over eligible arms."""

    def decide(params, state, noise, context, mask) -> Decision:
        means = _sample_means(state, params.initial_value)
        return stochastic(masked_softmax(means, mask, params.temperature), noise["u"])

    return Policy("softmax", n_arms, dim, SoftmaxParams(), _init_stats(n_arms), draw_uniform,
                  decide, _update_stats(n_arms))


# ------------------------------------------------------------------------ UCB1


class UCB1Params(NamedTuple):
    c: Array = 1.0  # scale of the confidence width (1 is Auer et al.'s UCB1)


def ucb1(n_arms: int, dim: int = 1) -> Policy:
    """UCB1 (Auer, Cesa-Bianchi & Fischer, 2002).

    index_a = mean_a + c · sqrt(2 ln t / n_a), with t the number of rounds played so
    far plus one; arms never pulled have index +inf and are tried first.
    """

    def decide(params, state, noise, context, mask) -> Decision:
        t = jnp.sum(state.counts) + 1.0
        n = jnp.maximum(state.counts, 1.0)
        index = state.sums / n + params.c * jnp.sqrt(2.0 * jnp.log(t) / n)
        index = jnp.where(state.counts > 0, index, jnp.inf)
        return greedy(index, mask, noise["tiebreak"])

    return Policy("ucb1", n_arms, dim, UCB1Params(), _init_stats(n_arms),
                  draw_tiebreak(n_arms), decide, _update_stats(n_arms))


# ------------------------------------------------------------------ Thompson sampling


class GaussianTSParams(NamedTuple):
    prior_mean: Array = 0.0
    prior_std: Array = 1.0  # > 0
    noise_std: Array = 1.0  # > 0, the assumed reward noise


def gaussian_posterior(params: GaussianTSParams, state: ArmStats):
    """Conjugate normal posterior of each arm's mean (known noise variance).

    precision = 1/σ0² + n/σ²,  mean = (μ0/σ0² + Σr/σ²) / precision.
    """
    prec = 1.0 / params.prior_std**2 + state.counts / params.noise_std**2
    mean = (params.prior_mean / params.prior_std**2 + state.sums / params.noise_std**2)
    return mean / prec, 1.0 / jnp.sqrt(prec)


def ts_gaussian(n_arms: int, dim: int = 1, n_prob_nodes: int = 10) -> Policy:
    """Gaussian Thompson sampling: act greedily on one posterior draw per arm.

    ``probs`` is P(arm a has the largest posterior draw), computed by quadrature on
    ``n_prob_nodes`` nodes per arm (:func:`bandits.base.gaussian_thompson`), not sampled.
    """

    def decide(params, state, noise, context, mask) -> Decision:
        mean, std = gaussian_posterior(params, state)
        return gaussian_thompson(mean, std, noise, mask, n_prob_nodes)

    return Policy("ts_gaussian", n_arms, dim, GaussianTSParams(), _init_stats(n_arms),
                  draw_gaussian_scores(n_arms), decide, _update_stats(n_arms))


class BetaTSParams(NamedTuple):
    a0: Array = 1.0  # prior successes, > 0
    b0: Array = 1.0  # prior failures, > 0


def ts_beta(n_arms: int, dim: int = 1, n_prob_draws: int = 128) -> Policy:
    """Beta–Bernoulli Thompson sampling for 0/1 rewards (Beta(a0 + s, b0 + f) posterior)."""

    def draw(params, key):
        del params
        k1, k2 = jax.random.split(key)
        return {"key": k1, "prob_key": k2}

    def decide(params, state, noise, context, mask) -> Decision:
        a = params.a0 + state.sums
        b = params.b0 + state.counts - state.sums
        theta = jax.random.beta(noise["key"], a, b)
        choice = greedy(theta, mask, jnp.zeros(())).action
        draws = jax.random.beta(noise["prob_key"], a, b, (n_prob_draws, n_arms))
        return Decision(choice, thompson_probs(theta, draws, mask))

    return Policy("ts_beta", n_arms, dim, BetaTSParams(), _init_stats(n_arms), draw,
                  decide, _update_stats(n_arms))
