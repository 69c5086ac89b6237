"""One round of one lane: its keys, its random numbers and its play.

Everything here is written for one lane; :mod:`envs.engine.chunk` batches it over lanes
(:meth:`envs.engine.layout.Layout.bmap`) and scans it over rounds.

Round ``t`` draws from one key per stream, ``fold_in(stream, t)``
(:class:`envs.engine.carry.LaneConstants`). Keys travel between functions as their raw
words (:func:`round_key_words`), one array per word: a carried array is stored, whereas a
key derived beside its draws is fused into them and re-derived once per number drawn.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import Policy, observed
from envs.engine.records import pack_log_row
from envs.worlds.base import World

ROUND_STREAMS = 3  # context, reward noise, policy noise; the world's step stream follows


class RoundDraws(NamedTuple):
    """Everything random about one round of one lane."""

    context: Array  # (d,)
    mask: Array  # (K,) bool: eligible arms
    noise: Any  # the policy's noise pytree (``policy.draw``)
    reward_noise: Array  # () the number the played arm's reward is made from
    delay: Array | tuple = ()  # () int32 the reward's delay in rounds, when delayed


class RoundRecord(NamedTuple):
    """What one round of one lane yields (:mod:`envs.engine.records`)."""

    regret: Array  # () float32 expected regret against the best eligible arm
    reward: Array  # () float32 realised reward
    action: Array  # () int32
    propensity: Array  # () probability of the action
    log_row: Array | tuple  # (F,) float32 with ``record="logs"``, else ()
    delay: Array | tuple = ()  # () int32 rounds until the reward arrives, when delayed
    probs: Array | tuple = ()  # (K,) the distribution the action was drawn from
    info: Any = ()  # the decision's ``Decision.info``
    context: Array | tuple = ()  # (d,) the round's context
    mask: Array | tuple = ()  # (K,) bool: the round's eligible arms


def round_key_words(streams: Array, t: Array) -> tuple[Array, ...]:
    """The words of round ``t``'s keys: every word of stream 0's key, then stream 1's, ...

    Args:
        streams: (R,) keys of one lane.
        t: () int32 round index.
    """
    data = [jax.random.key_data(jax.random.fold_in(streams[i], t))
            for i in range(streams.shape[0])]
    return tuple(d[..., j] for d in data for j in range(d.shape[-1]))


def keys_from_words(words: tuple[Array, ...], n_keys: int, impl) -> tuple[Array, ...]:
    """The ``n_keys`` keys whose words :func:`round_key_words` returned."""
    n = len(words) // n_keys
    return tuple(jax.random.wrap_key_data(jnp.stack(words[i * n:(i + 1) * n], -1), impl=impl)
                 for i in range(n_keys))


def draw_round(policy: Policy, env: World, pparams, eparams, estate,
               keys: tuple[Array, Array, Array]) -> RoundDraws:
    """Everything random about one round, from its context, reward-noise and policy keys."""
    kc, kr, kp = keys
    context, mask = env.sample_context(kc, eparams, estate)
    reward_noise = env.draw_reward_noise(kr, eparams, estate)
    return RoundDraws(context=context, mask=mask, noise=policy.draw(pparams, kp),
                      reward_noise=reward_noise)


def draw_round_from_words(policy: Policy, env: World, impl, pparams, eparams, estate,
                          words: tuple[Array, ...]) -> RoundDraws:
    """:func:`draw_round` from the words of the round's :data:`ROUND_STREAMS` keys."""
    keys = keys_from_words(words, ROUND_STREAMS, impl)
    return draw_round(policy, env, pparams, eparams, estate, keys)


def arm_indices(n_arms: int) -> Array:
    """(K,) int32 0..K-1, made before tracing: the compiled program then holds it as a
    constant rather than computing it inside its loops."""
    return jnp.arange(n_arms)


def decide_round(policy: Policy, env: World, record_logs: bool, arms: Array, pparams,
                 eparams, estate, pstate, draws: RoundDraws) -> tuple[Any, RoundRecord]:
    """One round's decision and reward, given its random numbers and the state the policy
    decides from; returns that state after the policy observed its decision
    (``policy.observe``) and the round's record. The policy does not learn here
    (:func:`play_round` does). The record's ``probs``, ``info``, ``context`` and
    ``mask`` are computed away by XLA when nothing reads them (a monitor does).

    ``arms`` is :func:`arm_indices`. Mean rewards are computed here rather than with the
    draws: XLA fuses a freshly drawn context into each of its consumers and would
    regenerate it once per arm.
    """
    mu = env.mean_rewards(eparams, estate, draws.context)
    dec = policy.decide(pparams, pstate, draws.noise, draws.context, draws.mask)
    chosen = arms == dec.action
    played = jnp.sum(jnp.where(chosen, mu, 0.0))
    reward = env.realise(eparams, played, draws.reward_noise)
    regret = jnp.max(jnp.where(draws.mask, mu, -jnp.inf)) - played
    prop = jnp.sum(jnp.where(chosen, dec.probs, 0.0))
    log_row = ()
    if record_logs:
        log_row = pack_log_row(context=draws.context, mask=draws.mask,
                               action_dist=dec.probs, expected_reward=mu)
    pstate = observed(policy, pparams, pstate, draws.noise, draws.context, draws.mask, dec)
    return pstate, RoundRecord(regret=regret, reward=reward, action=dec.action,
                               propensity=prop, log_row=log_row, probs=dec.probs,
                               info=dec.info, context=draws.context, mask=draws.mask)


def play_round(policy: Policy, env: World, record_logs: bool, arms: Array, pparams,
               eparams, estate, pstate, draws: RoundDraws) -> tuple[Any, RoundRecord]:
    """One round given its random numbers: the policy decides, the world rewards, the
    policy learns at once. Returns the policy's new state and the round's record."""
    pstate, record = decide_round(policy, env, record_logs, arms, pparams, eparams, estate,
                                  pstate, draws)
    pstate = policy.update(pparams, pstate, draws.context, record.action, record.reward)
    return pstate, record


def step_then_play_round(policy: Policy, env: World, impl, record_logs: bool, arms: Array,
                         pparams, eparams, estate, pstate, step_words: tuple[Array, ...],
                         draws: RoundDraws, t: Array) -> tuple[Any, Any, RoundRecord]:
    """One round of a world that is not stationary but draws from its keys alone
    (``env.draws_read_state`` false): the world steps to round ``t`` with the step key
    (from ``step_words``), then the round, drawn a block ahead, is played in the new
    state. The numbers are :func:`step_and_play_round`'s."""
    (step_key,) = keys_from_words(step_words, 1, impl)
    estate = env.step(eparams, estate, step_key, t)
    pstate, record = play_round(policy, env, record_logs, arms, pparams, eparams, estate,
                                pstate, draws)
    return estate, pstate, record


def step_and_play_round(policy: Policy, env: World, impl, record_logs: bool, arms: Array,
                        pparams, eparams, estate, pstate, words: tuple[Array, ...],
                        t: Array) -> tuple[Any, Any, RoundRecord]:
    """One round of a world that is not stationary: the world steps to round ``t`` (with
    the step key, the last of ``words``), then the round is drawn and played in its new
    state. Returns the world's and the policy's new states and the round's record."""
    *round_keys, step_key = keys_from_words(words, ROUND_STREAMS + 1, impl)
    estate = env.step(eparams, estate, step_key, t)
    draws = draw_round(policy, env, pparams, eparams, estate, tuple(round_keys))
    pstate, record = play_round(policy, env, record_logs, arms, pparams, eparams, estate,
                                pstate, draws)
    return estate, pstate, record
