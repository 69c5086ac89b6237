"""The rollout engine: a policy driven through a world for many seeds, as one compiled
program per chunk of rounds.

``from envs.engine import simulate`` loads the driver on first use, so that importing
:mod:`envs` can set XLA's host flags (:mod:`envs.engine.runtime`) before any module here
touches JAX.
"""

__all__ = ["EngineOptions", "Rollout", "simulate"]

_MODULES = {"EngineOptions": "options", "Rollout": "result", "simulate": "driver"}


def __getattr__(name: str):
    if name in _MODULES:
        from importlib import import_module

        return getattr(import_module(f"envs.engine.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'envs.engine' has no attribute {name!r}")
