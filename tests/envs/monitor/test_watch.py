"""A monitor's alert rules watching a staged rollout's candidate roll it back at the
exact round the rule becomes active, and never while its KPIs stay healthy.

The candidate plays K = 2 arms uniformly (ε = 1): its exploration rate (decisions that are
not its most likely arm, the first on a tie) is 1/2 a round; from round 3,000 its
exploration collapses (``faulty(greedy_from=3000)``). The rule ``exploration_rate < 0.05``
over 500 rounds, evaluated every 100, first holds at the first evaluation whose window
lies after round 3,000 (round 3,500; the window ending at 3,400 holds ~50 explorations
out of 100 rounds before the fault; fewer than the 25 the rule needs has probability
9e-8); held for 200 more rounds it is active at 3,700, and the rollout rolls back
at the start of round 3,700. A second grid point explores with ε = 0.04 from the start
(2% a round: Bin(500, 0.02) ≥ 25 has probability 4e-5), so its first window,
full at round 500, holds, and it rolls back at 700. The schedule is one long staging
stage (no traffic: no promotion rule or guardrail can roll back), so only the alert can.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from bandits.faults import faulty
from bandits.staged import CAUSES, Stage, staged_rollout
from common.errors import ConfigError
from envs.engine import simulate
from envs.monitor.rules import monitor_spec
from envs.monitor.watch import rollout_watch
from envs.rollout.candidates import fixed_arm, lift_world

K, D = 2, 2
STAGES = (Stage("staging", 10_000, 0.0), Stage("full", None, 1.0))


def _spec(when="exploration_rate < 0.05", window=500, for_rounds=200):
    return monitor_spec({"hop": 100, "reference": 1000, "baseline": None,
                         "rules": {"collapse": {"when": when, "window": window,
                                                "for": for_rounds, "severity": "high"}}})


def _run(watch, n_rounds=4000, n_seeds=3):
    candidate = faulty(fixed_arm(K, D, 1, 1.0), greedy_from=3000)
    policy = staged_rollout(candidate, fixed_arm(K, D, 0, 0.1), STAGES, watch=watch)
    base = policy.default_params
    grid = type(base)(*[jnp.stack([v, v]) for v in base])
    grid = grid._replace(epsilon=jnp.array([1.0, 0.04], jnp.float32))
    world, world_params = lift_world([0.0], 0.1, 1.0, 0.5, D)
    return simulate(policy, world, n_rounds=n_rounds, n_seeds=n_seeds, seed=3,
                    policy_params=grid, env_params=world_params).final_state


def test_an_active_alert_rolls_back_at_its_round():
    state = _run(rollout_watch(_spec(), K, D))
    at = np.asarray(state.rolled_back_at).reshape(2, -1)
    np.testing.assert_array_equal(at[0], 3700)  # collapse at 3,000: window 3,500, for 200
    np.testing.assert_array_equal(at[1], 700)  # too little exploration from the start
    np.testing.assert_array_equal(np.asarray(state.cause), CAUSES.index("alert"))


def test_without_a_watch_or_with_a_rule_that_never_holds_nothing_rolls_back():
    quiet = rollout_watch(_spec("exploration_rate < 0.001"), K, D)
    for watch in (None, quiet):
        state = _run(watch, n_rounds=2000, n_seeds=2)
        assert not np.asarray(state.rolled_back).any()
        np.testing.assert_array_equal(np.asarray(state.cause), CAUSES.index("none"))


@pytest.mark.parametrize("when", ["avg_reward < 0.8 * baseline", "regret > 0.1"])
def test_a_rule_on_rewards_is_refused_with_its_name(when):
    with pytest.raises(ConfigError, match=r"monitor\.rules\.collapse: .*not (avg_reward|regret)"):
        rollout_watch(_spec(when), K, D)


def test_error_rate_needs_validated_decisions():
    watch = rollout_watch(_spec("error_rate > 0.01"), K, D)
    with pytest.raises(ConfigError, match="validate=True, got validate=False"):
        staged_rollout(fixed_arm(K, D, 1), fixed_arm(K, D, 0), STAGES, watch=watch,
                       validate=False)
