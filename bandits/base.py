"""The policy protocol and the small pieces every policy is built from.

A policy is a NamedTuple of pure functions written for *one round of one simulation*.
Numbers that a study may sweep (exploration rates, priors, ...) live in a params pytree
passed as an argument, so the rollout engine can batch over them; sizes (arms, context
dimension, Monte Carlo draws) are closed over by the factory and are static.

Randomness is split in two steps so that the engine can draw the random numbers of many
rounds at once, outside its inner loop:

* ``draw(params, key) -> noise``: every random number the round needs, a small pytree;
* ``decide(params, state, noise, context, mask) -> Decision``: deterministic given noise.

``update(params, state, context, action, reward)`` learns from a reward when it arrives.
A policy whose state also changes when it decides (a circuit breaker counting failures,
a fault model counting rounds) sets ``observe(params, state, noise, context, mask,
decision) -> state``, which the engine calls right after every decision, before any
reward is learnt; it is ``None`` for every other policy.

A policy that trains a model on what it has learnt (a neural network on its replay
buffer) sets ``train(params, state) -> state`` and ``train_every`` (static, rounds): the
engine calls ``train`` once ``train_every``, ``2·train_every``, ... rounds are over,
after that round's rewards are learnt, for a whole group of simulations at once;
``update`` only records. Its randomness comes from a key in the state.
:func:`learned` does the same for one simulation outside the engine, and a wrapper passes
its inner policies' trainings on (:func:`forward_training`).

``policy.act(params, state, key, context, mask)`` composes the two, which is the
interface most users want.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.argmax_probs import thompson_propensities

Params = Any
State = Any
Noise = Any


class Decision(NamedTuple):
    """What a policy returns for one round.

    Attributes:
        action: int32, (): the chosen arm.
        probs: float, (n_arms,): the distribution ``action`` was drawn from
            (propensity = ``probs[action]``). One-hot for greedy choices, split evenly
            across exact ties, zero on ineligible arms; for Thompson sampling over Beta
            posteriors a Monte Carlo estimate (:func:`thompson_probs`), over Gaussian
            scores a deterministic quadrature
            (:func:`bandits.argmax_probs.gaussian_argmax_probs`); positive on the chosen
            arm either way.
        info: what a wrapper reports about the decision, a pytree (``()`` for plain
            policies); the safety layer's :class:`bandits.safety.SafetyInfo` says whether
            the decision failed validation and who served it, which monitors count.
    """

    action: Array
    probs: Array
    info: Any = ()


class Policy(NamedTuple):
    """A bandit algorithm as pure functions (see the module docstring)."""

    name: str
    n_arms: int
    dim: int
    default_params: Params
    init: Callable[[Params, Array], State]
    draw: Callable[[Params, Array], Noise]
    decide: Callable[[Params, State, Noise, Array, Array], Decision]
    update: Callable[[Params, State, Array, Array, Array], State]
    observe: Callable[[Params, State, Noise, Array, Array, Decision], State] | None = None
    train: Callable[[Params, State], State] | None = None
    train_every: int = 0

    def act(self, params: Params, state: State, key: Array, context: Array,
            mask: Array) -> Decision:
        """Draws this round's noise from ``key`` and decides."""
        return self.decide(params, state, self.draw(params, key), context, mask)

    def serve(self, params: Params, state: State, key: Array, context: Array,
              mask: Array) -> tuple[Decision, State]:
        """Decides as :meth:`act` does, then lets the policy observe its decision
        (``observe``); returns the decision and the state after it."""
        noise = self.draw(params, key)
        decision = self.decide(params, state, noise, context, mask)
        return decision, observed(self, params, state, noise, context, mask, decision)


def learned(policy: Policy, params: Params, state: State, context: Array, action: Array,
            reward: Array, seen: Array) -> State:
    """The state after ``policy`` learnt a reward (``update``) once ``seen`` rounds are
    over, trained (``train``) when its cadence ends there; for one simulation outside the
    engine (the engine trains whole groups at once)."""
    state = policy.update(params, state, context, action, reward)
    if policy.train is None:
        return state
    return jax.lax.cond(seen % policy.train_every == 0,
                        lambda s: policy.train(params, s), lambda s: s, state)


class Inner(NamedTuple):
    """A policy a wrapper drives: its params from the wrapper's (``params``), and where
    its state sits in the wrapper's state (``field``: a field name, or ``None`` when the
    wrapper's state is the inner state itself)."""

    policy: Policy
    params: Callable[[Params], Params]
    field: str | None


def _inner_state(state: State, field: str | None) -> State:
    return state if field is None else getattr(state, field)


def _with_inner(state: State, field: str | None, inner: State) -> State:
    return inner if field is None else state._replace(**{field: inner})


def forward_training(wrapper: Policy, inners: tuple[Inner, ...]) -> Policy:
    """``wrapper`` training those of its inner policies that train (``Policy.train``), on
    their cadence; raises ``ValueError`` when they train on different cadences."""
    training = [i for i in inners if i.policy.train is not None]
    if not training:
        return wrapper
    cadences = sorted({i.policy.train_every for i in training})
    if len(cadences) > 1:
        raise ValueError(f"{wrapper.name}: its policies train every {cadences} rounds; "
                         f"a wrapper trains them on one cadence")

    def train(params, state):
        for i in training:
            inner = i.policy.train(i.params(params), _inner_state(state, i.field))
            state = _with_inner(state, i.field, inner)
        return state

    return wrapper._replace(train=train, train_every=cadences[0])


def forward_observe(inner: Inner) -> Callable | None:
    """A wrapper's ``observe`` that lets ``inner`` observe the wrapper's decision (the
    arm played), or ``None`` when the inner policy does not observe."""
    if inner.policy.observe is None:
        return None

    def observe(params, state, noise, context, mask, decision):
        seen = inner.policy.observe(inner.params(params), _inner_state(state, inner.field),
                                    noise, context, mask, decision)
        return _with_inner(state, inner.field, seen)

    return observe


def observed(policy: Policy, params: Params, state: State, noise: Noise, context: Array,
             mask: Array, decision: Decision) -> State:
    """The state after ``policy`` observed its ``decision``: ``policy.observe``'s, or
    ``state`` itself for a policy without one."""
    if policy.observe is None:
        return state
    return policy.observe(params, state, noise, context, mask, decision)


# --------------------------------------------------------------------------- helpers
# Every helper works on one simulation: vectors of length n_arms.


def first_argmax(values: Array) -> Array:
    """Index of the first maximum, as a max reduction then a min over matching indices.

    Equivalent to ``jnp.argmax`` for finite inputs; written this way because XLA keeps
    the two reductions out of the consumers' fusions (a compare/select argmax was
    recomputed inside them).
    """
    n = values.shape[-1]
    top = jnp.max(values, axis=-1, keepdims=True)
    idx = jnp.arange(n, dtype=jnp.int32)
    return jnp.min(jnp.where(values == top, idx, n), axis=-1).astype(jnp.int32)


def greedy(scores: Array, mask: Array, u: Array) -> Decision:
    """Greedy choice among eligible arms, exact ties broken uniformly at random.

    Args:
        scores: (n_arms,) arm scores; ``+inf`` is allowed (e.g. untried arms).
        mask: (n_arms,) bool, eligible arms (at least one).
        u: () a uniform in [0, 1); with m tied maxima it picks the
            ``floor(u·m)``-th of them, so one random number serves any number of ties.

    Returns:
        The decision, with ``probs`` split evenly over the tied maxima.
    """
    s = jnp.where(mask, scores, -jnp.inf)
    best = jnp.max(s, axis=-1, keepdims=True)
    is_max = (s == best) & mask
    n_max = jnp.sum(is_max, axis=-1, keepdims=True)
    probs = is_max / n_max
    n = scores.shape[-1]
    idx = jnp.arange(n, dtype=jnp.int32)
    rank = jnp.cumsum(is_max, axis=-1, dtype=jnp.int32)  # 1..m along the tied arms
    pick = jnp.minimum(jnp.floor(u * n_max).astype(jnp.int32), n_max - 1) + 1
    action = jnp.min(jnp.where(is_max & (rank == pick), idx, n), axis=-1)
    return Decision(action.astype(jnp.int32), probs.astype(scores.dtype))


def uniform_probs(mask: Array, dtype=jnp.float32) -> Array:
    """The uniform distribution over eligible arms."""
    m = mask.astype(dtype)
    return m / jnp.sum(m, axis=-1, keepdims=True)


def sample_categorical(probs: Array, u: Array) -> Array:
    """Inverse-CDF draw from ``probs`` (n_arms,) with one uniform ``u`` in [0, 1).

    Never returns an arm of probability zero, even when rounding leaves the cumulative
    sum a little below ``u``.
    """
    cdf = jnp.cumsum(probs, axis=-1)
    target = u * cdf[..., -1:]
    hit = (cdf > target) & (probs > 0)
    n = probs.shape[-1]
    idx = jnp.arange(n, dtype=jnp.int32)
    first = jnp.min(jnp.where(hit, idx, n), axis=-1)
    return jnp.where(first < n, first, first_argmax(probs)).astype(jnp.int32)


def stochastic(probs: Array, u: Array) -> Decision:
    """A decision drawn from an explicit distribution with one uniform."""
    return Decision(sample_categorical(probs, u), probs)


def epsilon_mix(greedy_probs: Array, mask: Array, epsilon: Array) -> Array:
    """(1 - ε) · greedy + ε · uniform over eligible arms."""
    return (1.0 - epsilon) * greedy_probs + epsilon * uniform_probs(mask, greedy_probs.dtype)


def masked_softmax(scores: Array, mask: Array, temperature: Array) -> Array:
    """Boltzmann distribution over eligible arms; zero on ineligible ones."""
    z = jnp.where(mask, scores / temperature, -jnp.inf)
    z = z - jnp.max(z, axis=-1, keepdims=True)
    w = jnp.where(mask, jnp.exp(z), 0.0)
    return w / jnp.sum(w, axis=-1, keepdims=True)


def monte_carlo_argmax_probs(samples: Array, mask: Array) -> Array:
    """Frequency with which each arm is the (eligible) argmax of posterior samples.

    Args:
        samples: (n_draws, n_arms) posterior draws of the arm scores.
        mask: (n_arms,) eligible arms.

    Returns:
        (n_arms,) the Monte Carlo estimate of Thompson sampling's action distribution;
        ties within a draw share its weight.
    """
    s = jnp.where(mask, samples, -jnp.inf)
    is_max = (s == jnp.max(s, axis=-1, keepdims=True)) & mask
    share = is_max / jnp.sum(is_max, axis=-1, keepdims=True)
    return jnp.mean(share, axis=0).astype(samples.dtype)


def draw_uniform(params, key) -> dict:
    """Noise of a policy that samples from explicit probabilities: one uniform."""
    del params
    return {"u": jax.random.uniform(key)}


def draw_tiebreak(n_arms: int):
    """Noise of a greedy policy: one uniform that breaks exact ties (see :func:`greedy`)."""
    del n_arms

    def draw(params, key) -> dict:
        del params
        return {"tiebreak": jax.random.uniform(key)}

    return draw


def one_hot(action: Array, n_arms: int, dtype=jnp.float32) -> Array:
    return (jnp.arange(n_arms) == action).astype(dtype)


def thompson_probs(decided: Array, samples: Array, mask: Array) -> Array:
    """Thompson sampling's action distribution, estimated from the draw that made the
    decision, ``decided`` (n_arms,), and ``samples``, n further posterior draws
    (n, n_arms): the share of the n + 1 draws in which each eligible arm is the largest
    (ties within a draw share its weight).

    Every draw, the deciding one included, comes from the same posterior, so the estimate
    is unbiased like the n draws alone; and the chosen arm, a largest of the deciding
    draw, gets at least 1/((n + 1)·ties), so a logged propensity is never 0 (off-policy
    estimators divide by it).
    """
    return monte_carlo_argmax_probs(jnp.concatenate([decided[None], samples]), mask)


def draw_gaussian_scores(n_arms: int):
    """Noise of Thompson sampling over independent Gaussian arm scores."""

    def draw(params, key) -> dict:
        del params
        k1, _, k3 = jax.random.split(key, 3)
        return {"z": jax.random.normal(k1, (n_arms,)), "tiebreak": jax.random.uniform(k3)}

    return draw


def gaussian_thompson(mean: Array, scale: Array, noise: dict, mask: Array,
                      n_prob_nodes: int) -> Decision:
    """Greedy on one draw of N(mean_a, scale_a²) per arm; ``probs`` is the action
    distribution of that rule, P(arm a is the largest draw), computed by quadrature on
    ``n_prob_nodes`` nodes per arm (:func:`bandits.argmax_probs.thompson_propensities`:
    absolute error below 2e-4 at 10 nodes, and positive on the chosen arm).

    Exact ties (a zero scale) are broken at random, and ``probs`` splits them evenly.
    """
    decided = mean + scale * noise["z"]
    choice = greedy(decided, mask, noise["tiebreak"]).action
    return Decision(choice, thompson_propensities(mean, scale, mask, decided, choice,
                                                  n_prob_nodes))
