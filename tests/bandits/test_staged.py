"""The staged-rollout combinator on scripted runs: routing by hash and the system's
propensities, stage transitions at the scheduled rounds, rollback, exact attribution of
delayed rewards, the shadow stage's counts and off-policy sums (IPS, SNIPS and DR with its
predictable reward model), and schedule checks.

A run is a ``lax.scan`` over rounds that does what the engine does (decide, observe,
queue the reward, deliver the reward of round ``t − delay``) and also records both inner
decisions, made here from the same noise, as the reference.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.safety import user_hash
from bandits.staged import (
    CANDIDATE,
    INCUMBENT,
    PromotionRule,
    Stage,
    check_stages,
    shadow_estimates,
    staged_rollout,
)
from common.errors import ConfigError
from envs.rollout.candidates import FixedArmParams, fixed_arm

K, D = 3, 3


def _policy(stages, rule=None, window=0, epsilon=0.2):
    return staged_rollout(fixed_arm(K, D, 1, epsilon), fixed_arm(K, D, 0, epsilon),
                          stages, rule or PromotionRule(), attribution_window=window)


def _scripted(policy, n_rounds, delay, params, means, noise_std):
    """Every round's decision, info, reward and both inner decisions; the final state.
    ``params`` are the candidate's (the incumbent's are the same at arm 0)."""
    key = jax.random.key(7)
    arms = fixed_arm(K, D)
    mask = jnp.ones(K, bool)
    slots = delay + 1
    keys = jax.random.split(key, (3, n_rounds))
    drawn = (jax.random.normal(keys[0, 0], (n_rounds, D)),
             jax.vmap(policy.draw, (None, 0))(params, keys[1]),
             noise_std * jax.random.normal(keys[2, 0], (n_rounds,)))

    def step(carry, xs):
        state, contexts, actions, rewards = carry
        t, context, noise, reward_noise = xs
        dec = policy.decide(params, state, noise, context, mask)
        state = policy.observe(params, state, noise, context, mask, dec)
        reward = means[dec.action] + reward_noise
        slot = t % slots
        contexts, actions = contexts.at[slot].set(context), actions.at[slot].set(dec.action)
        rewards = rewards.at[slot].set(reward)
        due = (t - delay) % slots
        learnt = policy.update(params, state, contexts[due], actions[due], rewards[due])
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(t >= delay, a, b), learnt,
                                       state)
        inner = (arms.decide(params, (), noise["candidate"], context, mask),
                 arms.decide(params._replace(arm=jnp.float32(0)), (), noise["incumbent"],
                             context, mask))
        return (state, contexts, actions, rewards), (dec, reward, context, inner)

    init = (policy.init(params, key), jnp.zeros((slots, D)), jnp.zeros(slots, jnp.int32),
            jnp.zeros(slots))
    (state, *_), rounds = jax.lax.scan(step, init, (jnp.arange(n_rounds), *drawn))
    return state, rounds


_COMPILED = {}  # (policy, rounds, delay) -> the jitted run, shared across tests


def _run(policy, n_rounds, delay=0, means=(1.0, 1.0, 1.0), noise_std=0.0, params=None):
    key = (id(policy), n_rounds, delay)
    if key not in _COMPILED:
        _COMPILED[key] = (policy, jax.jit(partial(_scripted, policy, n_rounds, delay)))
    run = _COMPILED[key][1]
    params = policy.default_params if params is None else params
    state, (dec, reward, context, inner) = run(params, jnp.asarray(means),
                                               jnp.float32(noise_std))
    hashes = np.asarray(jax.vmap(user_hash)(context))
    return jax.tree_util.tree_map(np.asarray, (state, dec, reward, inner)) + (hashes,)


SCHEDULE = (Stage("staging", 40, 0.0), Stage("canary", 200, 0.3), Stage("half", 160, 0.5),
            Stage("full", None, 1.0))
# confidence rule; the guardrail looks every 20 rounds once each branch has 20 rewards
CONFIDENCE = _policy(SCHEDULE, PromotionRule(tolerance=0.01, look_every=20, min_rewards=20))


@pytest.fixture(scope="module")
def equal_run():
    """Equal, noiseless rewards: every stage promotes at its end."""
    return _run(CONFIDENCE, 480)


def test_stages_change_at_exactly_the_scheduled_rounds(equal_run):
    state, dec, *_ = equal_run
    expected = np.repeat([0, 1, 2, 3], [40, 200, 160, 80])
    np.testing.assert_array_equal(dec.info.stage, expected)
    np.testing.assert_array_equal(state.entered, [0, 40, 240, 400])
    assert not state.rolled_back and state.stage == 3


def test_a_stable_hash_routes_users_and_probs_are_the_serving_branch(equal_run):
    state, dec, _, (cand, inc), u = equal_run
    share = np.repeat([0.0, 0.3, 0.5, 1.0], [40, 200, 160, 80])
    np.testing.assert_array_equal(dec.info.candidate, u < share)
    served = dec.info.candidate[:, None]
    np.testing.assert_allclose(dec.probs, np.where(served, cand.probs, inc.probs))
    np.testing.assert_array_equal(dec.action, np.where(served[:, 0], cand.action, inc.action))
    # ε = 0.2 over 3 arms: the serving branch's arm has 0.8 + 0.2/3
    np.testing.assert_allclose(dec.probs[np.arange(480), np.where(served[:, 0], 1, 0)],
                               0.8 + 0.2 / 3, rtol=1e-6)
    assert state.exposed == dec.info.candidate.sum() > 0


def test_a_worse_candidate_is_rolled_back_at_the_stage_end():
    """Candidate 0.9 against 1.0 (above the guardrail's 0.8): the stage's interval shows
    it worse than the tolerance at its end, round 240, and the incumbent serves all."""
    state, dec, *_ = _run(CONFIDENCE, 480, means=(1.0, 0.9, 1.0), noise_std=0.05)
    assert state.rolled_back and state.rolled_back_at == 240 and state.stage == 1
    assert not dec.info.candidate[240:].any() and dec.info.candidate[40:240].any()
    np.testing.assert_array_equal(dec.info.rolled_back, np.arange(480) >= 240)


def test_the_guardrail_rolls_back_at_a_look_below_its_ratio():
    state, *_ = _run(CONFIDENCE, 480, means=(1.0, 0.5, 1.0), noise_std=0.05)
    back = int(state.rolled_back_at)
    assert state.rolled_back and 40 < back < 240 and (back - 40) % 20 == 0


def test_a_candidate_failing_validation_is_rolled_back_in_staging_unseen():
    """NaN probabilities from the candidate's first decision: the incumbent serves it
    and the rollout is rolled back from round 1, before any user is routed."""
    broken = FixedArmParams(jnp.float32(1), jnp.float32(np.nan))
    state, dec, *_ = _run(CONFIDENCE, 480, params=broken)
    assert state.rolled_back and state.rolled_back_at == 1 and state.stage == 0
    assert dec.info.failed[0] and not dec.info.candidate.any()
    assert np.isfinite(dec.probs).all()


def test_the_sequential_test_rolls_back_at_a_look_before_the_stage_end():
    rule = PromotionRule(kind="sequential", tolerance=0.01, look_every=20, min_rewards=20)
    state, *_ = _run(_policy(SCHEDULE, rule), 480, means=(1.0, 0.9, 1.0), noise_std=0.05)
    back = int(state.rolled_back_at)
    assert state.rolled_back and 40 < back < 240 and (back - 40) % 20 == 0


# shadow, then canary 10% and 50%, rewards 7 rounds late (window 7)
DELAY = 7
DELAYED = _policy((Stage("shadow", 150, 0.0, shadow=True), Stage("canary", 100, 0.1),
                   Stage("half", 400, 0.5), Stage("full", None, 1.0)), window=DELAY)


@pytest.fixture(scope="module")
def delayed_run():
    return _run(DELAYED, 320, delay=DELAY, means=(0.2, 1.0, 0.0), noise_std=0.3)


def test_attribution_is_exact_with_a_fixed_delay(delayed_run):
    """The half stage (from round 250) counts exactly the rewards that arrive in it, by
    the branch that served them, less the band [0.1, 0.5) for 7 rounds after the change."""
    state, dec, reward, _, u = delayed_run
    assert state.stage == 2 and not state.rolled_back
    arrive = np.arange(320)
    decided = np.maximum(arrive - DELAY, 0)
    band = (arrive < 250 + DELAY) & (u[decided] >= 0.1) & (u[decided] < 0.5)
    kept = (arrive >= 250) & ~band
    served = dec.info.candidate[decided]
    for branch, mine in ((CANDIDATE, served), (INCUMBENT, ~served)):
        np.testing.assert_allclose(state.stats[branch], [
            np.sum(kept & mine), np.sum(reward[decided] * (kept & mine)),
            np.sum(reward[decided]**2 * (kept & mine))], rtol=1e-5)
    # the band held incumbent-served rewards that hashing alone would give the candidate
    assert np.sum(band & (arrive >= 250) & ~served) > 0


def test_shadow_serves_the_incumbent_and_counts_disagreement_exactly(delayed_run):
    state, dec, reward, (cand, inc), _ = delayed_run
    shadow = slice(0, 150)
    assert not dec.info.candidate[shadow].any()
    np.testing.assert_array_equal(dec.action[shadow], inc.action[shadow])
    np.testing.assert_allclose(dec.probs[shadow], inc.probs[shadow])
    a, disagree = inc.action[shadow], (cand.action != inc.action)[shadow]
    expected = np.array([[np.sum(a == k), np.sum(disagree & (a == k))] for k in range(K)])
    np.testing.assert_array_equal(state.disagreement, expected)
    assert 0 < disagree.sum() < 150
    # every shadow reward arrived (7 rounds late) and carried its decision's weight
    rows = np.arange(150)
    w = cand.probs[rows, a] / inc.probs[rows, a]
    r = reward[shadow]
    est = shadow_estimates(state.ope)
    assert est["n"] == 150
    np.testing.assert_allclose(est["ips"], np.mean(w * r), rtol=1e-5)
    np.testing.assert_allclose(est["snips"], np.sum(w * r) / np.sum(w), rtol=1e-5)


def _predictable_model(actions, rewards, delay):
    """(n, K) q̂ each shadow decision used: the per-arm means of the shadow rewards
    learnt before its round (those of decisions ``delay + 1`` or more rounds earlier),
    the pooled mean for an arm without one, 0 before any."""
    q = np.zeros((len(actions), K))
    for i in range(len(actions)):
        a, r = actions[:max(i - delay, 0)], rewards[:max(i - delay, 0)]
        pooled = r.mean() if r.size else 0.0
        q[i] = [r[a == k].mean() if np.any(a == k) else pooled for k in range(K)]
    return q


def test_the_shadow_dr_sums_use_the_reward_model_learnt_before_each_decision(delayed_run):
    """DR term Σ_a π_c(a|x) q̂(a) + w·(r − q̂(A)) with q̂ fitted only on rewards that
    arrived (7 rounds late) before the decision: sums, estimate and interval against
    NumPy."""
    state, dec, reward, (cand, inc), _ = delayed_run
    rows, a, r = np.arange(150), inc.action[:150], reward[:150]
    w = cand.probs[rows, a] / inc.probs[rows, a]
    q = _predictable_model(a, r, DELAY)
    dr = np.sum(cand.probs[:150] * q, axis=1) + w * (r - q[rows, a])
    np.testing.assert_allclose(state.ope[6:], [dr.sum(), np.sum(dr**2)], rtol=1e-5)
    np.testing.assert_allclose(state.arm_rewards, [[np.sum(a == k), r[a == k].sum()]
                                                   for k in range(K)], rtol=1e-5, atol=1e-5)
    est = shadow_estimates(state.ope, z=2.0)
    se = dr.std(ddof=1) / np.sqrt(150)
    np.testing.assert_allclose([est["dr"], est["dr_se"], est["dr_low"], est["dr_high"]],
                               [dr.mean(), se, dr.mean() - 2 * se, dr.mean() + 2 * se],
                               rtol=1e-4)
    # the model mattered: with q̂ = 0 the DR terms would be the IPS terms
    assert not np.allclose(dr, w * r, rtol=1e-2)


@pytest.mark.parametrize("stages, message", [
    ([Stage("a", 10, 0.2), Stage("b", 10, 0.1), Stage("full", None, 1.0)],
     "stages[1].share must not be below the previous stage's 0.2 (shares only grow), got 0.1"),
    ([Stage("a", None, 0.1), Stage("full", None, 1.0)], "stages[0].rounds must be"),
    ([Stage("a", 10, 1.5), Stage("full", None, 1.0)], "stages[0].share must be a number in "
     "[0.0, 1.0], got 1.5"),
    ([Stage("a", 10, 0.1), Stage("b", 10, 0.5)], "stages[1].share must be 1.0"),
    ([Stage("a", 10, 0.1, alpha=0.9), Stage("full", None, 1.0)], "stages[0].alpha must be"),
    ([Stage("a", 10, 0.1, shadow=True), Stage("full", None, 1.0)], "stages[0].shadow"),
])
def test_bad_schedules_stop_with_the_key_and_value(stages, message):
    with pytest.raises(ConfigError, match=None) as err:
        check_stages(stages)
    assert message in str(err.value)


def test_bad_rules_stop_with_the_key_and_value():
    with pytest.raises(ConfigError, match=r"staged_rollout\.rule\.alpha .* got 0\.7"):
        _policy(SCHEDULE, PromotionRule(alpha=0.7))
    with pytest.raises(ConfigError, match=r"staged_rollout\.rule\.kind .* got 'bayes'"):
        _policy(SCHEDULE, PromotionRule(kind="bayes"))
