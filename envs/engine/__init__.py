"""The rollout engine: a policy driven through a world for many seeds, as one compiled
program per chunk of rounds.

``from envs.engine import simulate`` loads the driver on first use, so that importing
:mod:`envs` can set XLA's host flags (:mod:`envs.engine.runtime`) before any module here
touches JAX.
"""

__all__ = ["Rollout", "simulate"]


def __getattr__(name: str):
    if name in __all__:
        from envs.engine import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'envs.engine' has no attribute {name!r}")
