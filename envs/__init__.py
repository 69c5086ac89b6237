"""Where bandit data comes from: simulated worlds and the rollout engine.

>>> import envs
>>> world = envs.make("linear-gaussian", n_arms=5, dim=10)
"""

from envs.runtime import configure_host, unroll_threefry_on_cpu

configure_host()
unroll_threefry_on_cpu()

from envs.registry import REGISTRY, make, names  # noqa: E402
from envs.worlds import LinearGaussian, LogisticBernoulli, SliceSum, World  # noqa: E402

__all__ = ["REGISTRY", "make", "names", "World", "LinearGaussian", "LogisticBernoulli",
           "SliceSum", "configure_host"]
