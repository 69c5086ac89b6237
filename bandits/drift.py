"""Context-free bandits for worlds whose arm means change over time.

They forget the past instead of averaging all of it: discounting every statistic by γ
each round (D-UCB, discounted Thompson sampling), keeping only the last τ rounds
(SW-UCB), or exploring on a schedule (ε-greedy with decaying ε). Discounting and the
window apply to every arm every round, whichever arm was played, so an arm left alone
slowly loses its weight and is re-explored. Each factory returns a
:class:`bandits.base.Policy`; none can be trained from logged rows by sufficient
statistics alone (their state depends on when each row happened), so their registry
specs declare no ``fold_logs``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import (
    Decision,
    Policy,
    draw_tiebreak,
    draw_uniform,
    epsilon_mix,
    greedy,
    one_hot,
    stochastic,
    thompson_probs,
)


class DiscountedStats(NamedTuple):
    counts: Array  # (n_arms,) N_t(γ, a) = Σ_s γ^(t−s) 1{a_s = a}
    sums: Array  # (n_arms,) Σ_s γ^(t−s) r_s 1{a_s = a}


def _init_discounted(n_arms: int):
    def init(params, key):
        del params, key
        zeros = jnp.zeros((n_arms,), jnp.float32)
        return DiscountedStats(zeros, zeros)

    return init


def _update_discounted(n_arms: int):
    def update(params, state: DiscountedStats, context, action, reward) -> DiscountedStats:
        del context
        w = one_hot(action, n_arms)
        return DiscountedStats(params.gamma * state.counts + w,
                               params.gamma * state.sums + w * reward)

    return update


# ------------------------------------------------------------------------ D-UCB


class DiscountedUCBParams(NamedTuple):
    gamma: Array = 0.99  # discount per round, in (0, 1]
    xi: Array = 0.6  # exploration ξ > 0 (the analysis takes ξ > 1/2)
    bound: Array = 1.0  # B > 0, a bound on the rewards' range


def discounted_ucb(n_arms: int, dim: int = 1) -> Policy:
    """Discounted UCB (Garivier & Moulines, 2011).

    With N_a = Σ_s γ^(t−s) 1{a_s = a}, S_a = Σ_s γ^(t−s) r_s 1{a_s = a} and
    n = Σ_a N_a (all discounted over every round so far):

        index_a = S_a / N_a + 2B · sqrt(ξ · ln(n) / N_a);

    arms never pulled have index +inf. With γ = 1, B = 1, ξ = 1/2 the index is UCB1's
    with ln(t) in place of ln(t + 1).
    """

    def decide(params, state, noise, context, mask) -> Decision:
        n_total = jnp.maximum(jnp.sum(state.counts), 1.0)
        n = jnp.maximum(state.counts, jnp.finfo(jnp.float32).tiny)
        width = 2.0 * params.bound * jnp.sqrt(params.xi * jnp.log(n_total) / n)
        index = jnp.where(state.counts > 0, state.sums / n + width, jnp.inf)
        return greedy(index, mask, noise["tiebreak"])

    return Policy("discounted_ucb", n_arms, dim, DiscountedUCBParams(),
                  _init_discounted(n_arms), draw_tiebreak(n_arms), decide,
                  _update_discounted(n_arms))


# ------------------------------------------------------------------------ SW-UCB


class WindowState(NamedTuple):
    actions: Array  # (window,) int32 arms of the last τ rounds, oldest first; −1 = empty
    rewards: Array  # (window,) float32 their rewards (0 where empty)


class SlidingWindowUCBParams(NamedTuple):
    xi: Array = 0.6  # exploration ξ > 0
    bound: Array = 1.0  # B > 0, a bound on the rewards' range


def window_stats(state: WindowState, n_arms: int) -> tuple[Array, Array]:
    """Pulls and reward sums of every arm over the rounds in the window.

    Returns:
        ``(counts, sums)``, each (n_arms,) float32.
    """
    hits = (state.actions[:, None] == jnp.arange(n_arms)).astype(jnp.float32)  # (τ, K)
    return jnp.sum(hits, axis=0), jnp.sum(hits * state.rewards[:, None], axis=0)


def sliding_window_ucb(n_arms: int, dim: int = 1, window: int = 200) -> Policy:
    """Sliding-window UCB (Garivier & Moulines, 2011) over the last τ = ``window`` rounds.

    With N_a and S_a the pulls of arm a and their rewards among the last τ rounds, and
    m = min(t, τ) the rounds in the window:

        index_a = S_a / N_a + B · sqrt(ξ · ln(m) / N_a);

    arms not pulled within the window have index +inf. The state is a fixed-size buffer
    of the last τ (action, reward) pairs, oldest first: 2τ numbers per simulation lane
    (τ int32 and τ float32), whatever the horizon; each round shifts it by one.
    """

    def init(params, key) -> WindowState:
        del params, key
        return WindowState(jnp.full((window,), -1, jnp.int32),
                           jnp.zeros((window,), jnp.float32))

    def decide(params, state, noise, context, mask) -> Decision:
        counts, sums = window_stats(state, n_arms)
        filled = jnp.maximum(jnp.sum(counts), 1.0)
        n = jnp.maximum(counts, 1.0)
        width = params.bound * jnp.sqrt(params.xi * jnp.log(filled) / n)
        index = jnp.where(counts > 0, sums / n + width, jnp.inf)
        return greedy(index, mask, noise["tiebreak"])

    def update(params, state, context, action, reward) -> WindowState:
        del params, context
        actions = jnp.concatenate([state.actions[1:], jnp.asarray(action, jnp.int32)[None]])
        rewards = jnp.concatenate([state.rewards[1:],
                                   jnp.asarray(reward, jnp.float32)[None]])
        return WindowState(actions, rewards)

    return Policy("sliding_window_ucb", n_arms, dim, SlidingWindowUCBParams(), init,
                  draw_tiebreak(n_arms), decide, update)


# -------------------------------------------------------- discounted Thompson sampling


class BetaCounts(NamedTuple):
    successes: Array  # (n_arms,) S_a = Σ_s γ^(t−s) r_s 1{a_s = a}
    failures: Array  # (n_arms,) F_a = Σ_s γ^(t−s) (1 − r_s) 1{a_s = a}


class DiscountedTSParams(NamedTuple):
    gamma: Array = 0.99  # discount per round, in (0, 1]
    a0: Array = 1.0  # prior successes, > 0
    b0: Array = 1.0  # prior failures, > 0


def discounted_posterior(params: DiscountedTSParams, state: BetaCounts):
    """The Beta(a0 + S_a, b0 + F_a) parameters of every arm, each (n_arms,)."""
    return params.a0 + state.successes, params.b0 + state.failures


def discounted_ts(n_arms: int, dim: int = 1, n_prob_draws: int = 128) -> Policy:
    """Discounted Thompson sampling (Raj & Kalyani, 2017), Beta–Bernoulli, 0/1 rewards.

    Each round every arm's counts are discounted, S_a ← γS_a + r·1{a played} and
    F_a ← γF_a + (1 − r)·1{a played}; the policy plays the argmax of one draw from
    Beta(a0 + S_a, b0 + F_a) per arm. ``probs`` is estimated from the deciding draw and
    ``n_prob_draws`` further draws (:func:`bandits.base.thompson_probs`). With γ = 1 it is
    ``ts_beta``.
    """

    def init(params, key) -> BetaCounts:
        del params, key
        zeros = jnp.zeros((n_arms,), jnp.float32)
        return BetaCounts(zeros, zeros)

    def draw(params, key):
        del params
        k1, k2 = jax.random.split(key)
        return {"key": k1, "prob_key": k2}

    def decide(params, state, noise, context, mask) -> Decision:
        a, b = discounted_posterior(params, state)
        theta = jax.random.beta(noise["key"], a, b)
        choice = greedy(theta, mask, jnp.zeros(())).action
        draws = jax.random.beta(noise["prob_key"], a, b, (n_prob_draws, n_arms))
        return Decision(choice, thompson_probs(theta, draws, mask))

    def update(params, state, context, action, reward) -> BetaCounts:
        del context
        w = one_hot(action, n_arms)
        return BetaCounts(params.gamma * state.successes + w * reward,
                          params.gamma * state.failures + w * (1.0 - reward))

    return Policy("discounted_ts", n_arms, dim, DiscountedTSParams(), init, draw, decide,
                  update)


# ------------------------------------------------------------ ε-greedy, decaying ε


class RoundStats(NamedTuple):
    counts: Array  # (n_arms,) pulls of each arm
    sums: Array  # (n_arms,) sum of rewards of each arm
    rounds: Array  # () int32 rounds played so far


class DecayingEpsGreedyParams(NamedTuple):
    epsilon0: Array = 1.0  # ε₀ in [0, 1], the exploration rate at round 0
    decay: Array = 100.0  # c > 0, the rounds over which ε halves from ε₀


def decayed_epsilon(params: DecayingEpsGreedyParams, rounds: Array) -> Array:
    """ε_t = min(1, ε₀ · c / (c + t)) after t rounds."""
    return jnp.minimum(1.0, params.epsilon0 * params.decay / (params.decay + rounds))


def decaying_eps_greedy(n_arms: int, dim: int = 1) -> Policy:
    """ε-greedy on sample means with ε_t = min(1, ε₀ · c / (c + t)), t the rounds so far.

    The schedule decays as 1/t, the rate under which ε-greedy's regret is logarithmic
    (Auer, Cesa-Bianchi & Fischer, 2002, whose ε_t = min(1, cK/(d²t)) is the case
    ε₀ = 1 for large t). Probabilities are exact: (1 − ε_t) split evenly over the tied
    best eligible arms plus ε_t / (number of eligible arms) on every eligible arm; arms
    never pulled have mean 0.
    """

    def init(params, key) -> RoundStats:
        del params, key
        zeros = jnp.zeros((n_arms,), jnp.float32)
        return RoundStats(zeros, zeros, jnp.zeros((), jnp.int32))

    def decide(params, state, noise, context, mask) -> Decision:
        means = state.sums / jnp.maximum(state.counts, 1.0)
        g = greedy(means, mask, jnp.zeros(())).probs
        epsilon = decayed_epsilon(params, state.rounds.astype(jnp.float32))
        return stochastic(epsilon_mix(g, mask, epsilon), noise["u"])

    def update(params, state, context, action, reward) -> RoundStats:
        del params, context
        w = one_hot(action, n_arms)
        return RoundStats(state.counts + w, state.sums + w * reward, state.rounds + 1)

    return Policy("decaying_eps_greedy", n_arms, dim, DecayingEpsGreedyParams(), init,
                  draw_uniform, decide, update)
