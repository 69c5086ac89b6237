"""Where bandit data comes from: simulated worlds (``envs.worlds``), the rollout engine
(``envs.engine``), logged data (``envs.data``) and regret studies (``envs.regret``).

>>> import envs
>>> world = envs.make("linear-gaussian", n_arms=5, dim=10)
"""

from envs.engine.runtime import configure_host, unroll_threefry_on_cpu

configure_host()
unroll_threefry_on_cpu()

from envs.worlds import (  # noqa: E402
    REGISTRY,
    LinearGaussian,
    LogisticBernoulli,
    SliceSum,
    SupervisedWorld,
    World,
    drift_names,
    make,
    make_drift,
    names,
    register,
    registered,
    unregister,
)

__all__ = ["REGISTRY", "make", "make_drift", "drift_names", "names", "register",
           "registered", "unregister", "World", "LinearGaussian", "LogisticBernoulli",
           "SliceSum", "SupervisedWorld", "configure_host"]
