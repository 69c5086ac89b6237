"""Neural bandits: a network trained with optax on a replay buffer inside the policy
state, and the exploration built on it (:mod:`bandits.neural.core`)."""

from bandits.neural.core import NeuralSettings, NeuralState
from bandits.neural.gradient import neural_ts, neural_ucb
from bandits.neural.greedy import neural_eps_greedy
from bandits.neural.linear_head import neural_linear

__all__ = ["NeuralSettings", "NeuralState", "neural_eps_greedy", "neural_linear",
           "neural_ts", "neural_ucb"]
