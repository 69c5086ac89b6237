"""The safety layer: decision validation flags each defect once and passes good decisions;
``validated`` serves the fallback exactly when the policy's decision fails; the circuit
breaker follows a hand-worked mode sequence on a scripted fault schedule; the traffic cap
routes a stable share of contexts by a MurmurHash3 of their bits and lets each policy
learn from its own traffic."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
from bandits.base import Decision, Policy, one_hot, thompson_probs
from bandits.faults import FaultInfo
from bandits.safety import (
    FAILURE_REASONS,
    OPEN,
    BreakerState,
    murmur3_words,
    user_hash,
)
from common.errors import ConfigError

K, D = 3, 2
MASK = jnp.array([True, True, False])


class NoParams(NamedTuple):
    pass


def scripted(schedule, arm: int) -> Policy:
    """Plays ``arm`` every round; its decision in round t (counted by ``observe``) has NaN
    probabilities when ``schedule[t]``."""
    bad = jnp.asarray(schedule)

    def decide(params, state, noise, context, mask):
        probs = jnp.where(bad[state], jnp.nan, one_hot(arm, K))
        return Decision(jnp.int32(arm), probs)

    return Policy(f"scripted_{arm}", K, D, NoParams(),
                  lambda params, key: jnp.zeros((), jnp.int32),
                  lambda params, key: {"u": jax.random.uniform(key)}, decide,
                  lambda params, state, context, action, reward: state,
                  lambda params, state, noise, context, mask, decision: state + 1)


# ------------------------------------------------------------------------ validation

GOOD = np.array([0.3, 0.7, 0.0])
TIMEOUT = 20.0  # ms
BAD_CASES = {  # reason -> (action, probs, latency in ms)
    "action_out_of_range": (3, GOOD, 0.0),
    "action_ineligible": (2, np.array([0.5, 0.5, 0.0]), 0.0),
    "probs_not_finite": (1, np.array([np.nan, 0.5, 0.0]), 0.0),
    "probs_negative": (1, np.array([-0.1, 1.1, 0.0]), 0.0),
    "probs_on_ineligible_arm": (0, np.array([0.5, 0.4, 0.1]), 0.0),
    "probs_not_normalised": (0, np.array([0.5, 0.5 + 2e-4, 0.0]), 0.0),
    "action_improbable": (0, np.array([0.0, 1.0, 0.0]), 0.0),
    "too_slow": (0, GOOD, 30.0),
}


@jax.jit
def reasons_of(actions, probs, latencies, timeouts):
    """Every case's flags in one program: (cases, reasons)."""
    def one(action, p, latency, timeout):
        return bandits.failure_reasons(Decision(action, p, FaultInfo(latency)), MASK, timeout)

    return jax.vmap(one)(actions, probs, latencies, timeouts)


def cases_of(decisions, timeout=np.inf):
    """Stacked (actions, probs, latencies, timeouts) of ``(action, probs, latency)``s,
    padded to 8 cases (one compiled program) by repeating the first."""
    decisions = list(decisions)
    decisions += decisions[:1] * (8 - len(decisions))
    actions, probs, latencies = zip(*decisions)
    return (jnp.asarray(actions, jnp.int32), jnp.asarray(np.stack(probs), jnp.float32),
            jnp.asarray(latencies, jnp.float32), jnp.full(len(actions), timeout, jnp.float32))


def test_each_bad_output_raises_its_own_reason_and_only_it():
    assert set(BAD_CASES) == set(FAILURE_REASONS)
    flags = np.asarray(reasons_of(*cases_of(BAD_CASES.values(), TIMEOUT)))
    np.testing.assert_array_equal(flags, np.eye(len(FAILURE_REASONS), dtype=bool))
    outage = Decision(jnp.int32(-1), jnp.zeros(K))
    assert bool(bandits.decision_failures(outage, MASK))
    no_latency = Decision(jnp.int32(0), jnp.array([0.0, 1.0, 0.0]))  # improbable, no info
    assert bool(bandits.decision_failures(no_latency, MASK, 0.0))


def test_good_decisions_pass():
    rng = np.random.default_rng(0)
    samples = jnp.asarray(rng.standard_normal((128, K)), jnp.float32)
    decided = jnp.asarray([0.1, 2.0, 5.0], jnp.float32)  # the masked arm 2 is highest
    ts = thompson_probs(decided, samples, MASK)  # k/129 shares: rounded, positive on arm 1
    good = [(1, GOOD, 0.0), (0, np.array([0.5, 0.5 + 5e-5, 0.0]), 0.0),  # within 1e-4
            (0, GOOD, TIMEOUT), (1, ts, 0.0)]  # a latency at the timeout passes
    for name in ("eps_greedy", "lin_ts"):
        policy = bandits.make(name, K, D)
        state = policy.init(policy.default_params, jax.random.key(0))
        dec = jax.jit(policy.act)(policy.default_params, state, jax.random.key(1),
                                  jnp.ones(D), MASK)
        good.append((dec.action, dec.probs, 0.0))
    flags = np.asarray(reasons_of(*cases_of(good, TIMEOUT)))
    assert not flags.any(), flags


def test_validated_serves_the_fallback_exactly_when_the_policy_fails():
    inner = bandits.make("lin_eps_greedy", K, D, epsilon=0.3)
    fallback = bandits.make("uniform", K, D)
    faulty = bandits.faulty(inner, nan_rate=0.4, latency_mean=10.0, latency_sigma=1.0)
    policy = bandits.validated(faulty, fallback, timeout=15.0)
    params = policy.default_params
    assert params == faulty.default_params and policy.name == "validated_faulty_lin_eps_greedy"
    state = policy.init(params, jax.random.key(0))
    ctx = jnp.asarray([0.5, -1.0])
    keys = jax.random.split(jax.random.key(2), 2000)

    def both(key):
        noise = policy.draw(params, key)
        served = policy.decide(params, state, noise, ctx, MASK)
        mine = faulty.decide(params, state.policy, noise["policy"], ctx, MASK)
        backup = fallback.decide(fallback.default_params, state.fallback, noise["fallback"],
                                 ctx, MASK)
        return served, mine, backup

    served, mine, backup = jax.jit(jax.vmap(both))(keys)
    failed = np.isnan(np.asarray(mine.probs)).any(-1) | (np.asarray(mine.info.latency) > 15)
    assert 0.4 < failed.mean() < 0.9
    np.testing.assert_array_equal(served.info.failed, failed)
    np.testing.assert_array_equal(served.info.fallback, failed)
    np.testing.assert_array_equal(served.action, np.where(failed, backup.action, mine.action))
    np.testing.assert_array_equal(served.probs,
                                  np.where(failed[:, None], backup.probs, mine.probs))
    learnt = policy.update(params, state, ctx, jnp.int32(1), jnp.float32(2.0))
    assert float(learnt.fallback.counts[1]) == 1.0  # both policies learn every reward
    assert float(learnt.policy.inner.theta[1] @ ctx) > 0


# ---------------------------------------------------------------------- the breaker

FAILS = {2, 6, 9, 10, 11, 13, 18, 22, 23, 24, 30, 31}  # rounds whose decision is invalid
#                  failures=2 within window=4 closed rounds; cooldown=3
EXPECTED_MODES = (
    "CCCCCCCCCC"  # 0-9: 2 and 6 are 4 rounds apart (2 leaves the window); 6, 9 trip it
    "OOOH"  # 10-12 open (their failures not counted), 13 half-open fails: open again
    "OOOH"  # 14-16 open, 17 half-open and valid: closed, history cleared
    "CCCCCC"  # 18-23: 18 and 22 apart by 4 (a stale flag of 9 would trip at 18); 22, 23 trip
    "OOOH"  # 24-26 open (24 not counted), 27 half-open and valid
    "CCCC"  # 28-31: 30, 31 trip
    "OOOH"  # 32-34 open, 35 valid
    "CCCC")  # 36-39
N_ROUNDS = len(EXPECTED_MODES)


def run_breaker():
    schedule = np.array([t in FAILS for t in range(N_ROUNDS)])
    policy = bandits.circuit_breaker(scripted(schedule, 0), scripted(np.zeros_like(schedule),
                                     1), failures=2, window=4, cooldown=3)
    params = policy.default_params

    def body(state, key):
        dec, state = policy.serve(params, state, key, jnp.zeros(D), jnp.ones(K, bool))
        state = policy.update(params, state, jnp.zeros(D), dec.action, jnp.float32(0.0))
        return state, dec

    keys = jax.random.split(jax.random.key(0), N_ROUNDS)
    return jax.jit(lambda s: jax.lax.scan(body, s, keys))(policy.init(params,
                                                                      jax.random.key(1)))


def test_the_breaker_follows_the_hand_worked_mode_sequence():
    state, dec = run_breaker()
    modes = "".join("COH"[m] for m in np.asarray(dec.info.breaker))
    assert modes == EXPECTED_MODES
    consulted = np.array([m != "O" for m in EXPECTED_MODES])
    fails = np.array([t in FAILS for t in range(N_ROUNDS)])
    np.testing.assert_array_equal(dec.info.failed, fails & consulted)
    served_fallback = fails | ~consulted
    np.testing.assert_array_equal(dec.info.fallback, served_fallback)
    np.testing.assert_array_equal(dec.action, served_fallback.astype(np.int32))
    assert np.all(np.isfinite(np.asarray(dec.probs)))  # the fallback's probs when it served
    assert isinstance(state, BreakerState) and int(state.round) == N_ROUNDS
    assert int(state.policy) == int(state.fallback) == N_ROUNDS  # both observe every round


def test_breaker_mode_constants_and_bad_settings():
    assert OPEN == 1
    inner, fallback = bandits.make("lin_ucb", K, D), bandits.make("uniform", K, D)
    for kwargs, message in [
            (dict(failures=0), r"circuit_breaker.failures must be an integer in \[1, 100\], "
                               r"got 0"),
            (dict(failures=5, window=4), r"circuit_breaker.failures .* \[1, 4\], got 5"),
            (dict(cooldown=-1), r"circuit_breaker.cooldown .* got -1"),
            (dict(timeout=-1.0), r"circuit_breaker.timeout .* got -1.0")]:
        with pytest.raises(ValueError, match=message):
            bandits.circuit_breaker(inner, fallback, **kwargs)
    with pytest.raises(ConfigError, match=r"validated.fallback 'uniform' has n_arms=4"):
        bandits.validated(inner, bandits.make("uniform", 4, D))


# ---------------------------------------------------------------------- traffic cap


def test_user_hash_is_murmur3_of_the_float_bits():
    test_word = int.from_bytes(b"test", "little")  # MurmurHash3_x86_32("test", 0)
    murmur = jax.jit(murmur3_words, static_argnums=1)
    assert int(murmur(jnp.asarray([test_word], jnp.uint32), 0)) == 0xBA6BD213
    assert int(murmur(jnp.zeros((0,), jnp.uint32), 1)) == 0x514E28B7  # ("", 1)
    x = jnp.asarray([1.0, -2.5], jnp.float32)
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
    assert float(jax.jit(user_hash)(x)) == (int(jax.jit(murmur3_words)(bits)) >> 8) / 2**24


def test_the_cap_routes_a_stable_share_of_contexts():
    share, n = 0.3, 4000
    policy = bandits.traffic_cap(bandits.make("lin_ucb", K, D), bandits.make("uniform", K, D),
                                 share=share)
    params = policy.default_params
    assert params._fields == ("alpha", "reg", "share") and params.share == share
    contexts = jnp.asarray(np.random.default_rng(3).standard_normal((n, D)), jnp.float32)
    state = policy.init(params, jax.random.key(0))
    act = jax.jit(jax.vmap(policy.act, in_axes=(None, None, 0, 0, None)))
    first = act(params, state, jax.random.split(jax.random.key(1), n), contexts, MASK)
    again = act(params, state, jax.random.split(jax.random.key(2), n), contexts + 0.0, MASK)
    routed = np.asarray(first.info.candidate)
    np.testing.assert_array_equal(routed, again.info.candidate)  # same context, same side
    np.testing.assert_array_equal(routed, np.asarray(jax.vmap(user_hash)(contexts)) < share)
    se = np.sqrt(share * (1 - share) / n)
    assert abs(routed.mean() - share) < 4 * se, (routed.mean(), se)
    uniform_probs = np.asarray(MASK) / 2.0
    np.testing.assert_allclose(np.asarray(first.probs)[~routed], uniform_probs[None]
                               .repeat((~routed).sum(), 0))
    assert np.all(np.asarray(first.probs)[routed].max(-1) >= 0.5)  # LinUCB's greedy split


def test_each_policy_learns_from_its_own_traffic():
    candidate, incumbent = bandits.make("lin_ucb", K, D), bandits.make("eps_greedy", K, D)
    contexts = jnp.asarray(np.random.default_rng(4).standard_normal((64, D)), jnp.float32)
    hashes = np.asarray(jax.vmap(user_hash)(contexts))
    mine, theirs = contexts[np.flatnonzero(hashes < 0.5)[0]], contexts[
        np.flatnonzero(hashes >= 0.5)[0]]
    for learn_from in ("own", "all"):
        policy = bandits.traffic_cap(candidate, incumbent, 0.5, learn_from=learn_from)
        params = policy.default_params
        state = policy.init(params, jax.random.key(0))
        for ctx, to_candidate in ((mine, True), (theirs, False)):
            new = policy.update(params, state, ctx, jnp.int32(1), jnp.float32(1.0))
            cand_learnt = bool(np.any(np.asarray(new.candidate.theta) != 0))
            inc_learnt = float(new.incumbent.counts.sum()) == 1.0
            everyone = learn_from == "all"
            assert (cand_learnt, inc_learnt) == (to_candidate or everyone,
                                                 not to_candidate or everyone), learn_from
    with pytest.raises(ValueError, match=r"traffic_cap.share must be .* got 1.5"):
        bandits.traffic_cap(candidate, incumbent, 1.5)
    with pytest.raises(ValueError, match=r"traffic_cap.learn_from must be one of own, all, "
                                          r"got 'mine'"):
        bandits.traffic_cap(candidate, incumbent, 0.5, learn_from="mine")
