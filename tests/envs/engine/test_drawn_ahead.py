"""A drifting world whose draws do not read its state is drawn a block ahead and only
stepped round by round; its actions are those of drawing every round inside the loop, and
its rewards and regrets the same to float32 rounding, with immediate and with delayed,
batched feedback."""

from dataclasses import dataclass

import numpy as np
import pytest

import bandits
from envs.engine import simulate
from envs.feedback import Feedback
from envs.worlds import registry
from envs.worlds.drift import AbruptWorld


@dataclass(frozen=True)
class InLoopAbrupt(AbruptWorld):
    """The same world, declared to draw from its state: the engine draws it in the loop."""

    @property
    def draws_read_state(self) -> bool:
        return True


@pytest.mark.parametrize("feedback", [None, Feedback("fixed", delay_mean=3, update_every=4)])
def test_drawn_ahead_equals_drawn_in_the_loop(feedback):
    base = registry.make("linear-gaussian", n_arms=3, dim=4)
    ahead = AbruptWorld(base, rate=0.02)
    in_loop = InLoopAbrupt(base, rate=0.02)
    assert not ahead.draws_read_state and in_loop.draws_read_state
    policy = bandits.make("lin_ucb", 3, 4)
    runs = [simulate(policy, w, n_rounds=120, n_seeds=6, record="trajectories",
                     feedback=feedback) for w in (ahead, in_loop)]
    np.testing.assert_array_equal(runs[0].trajectories["action"],
                                  runs[1].trajectories["action"])
    for name in ("reward", "regret"):  # the same numbers, fused differently by XLA
        np.testing.assert_allclose(runs[0].trajectories[name], runs[1].trajectories[name],
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    assert runs[0].trajectories["regret"].sum() > 0
