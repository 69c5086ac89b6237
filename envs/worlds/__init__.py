"""Simulated worlds: the protocol every world follows, the world families and the
registry (``make("linear-gaussian", n_arms=5, dim=10)``)."""

from envs.worlds.base import World
from envs.worlds.linear import LinearGaussian, LogisticBernoulli
from envs.worlds.registry import REGISTRY, make, names, register, registered, unregister
from envs.worlds.slice_sum import SliceSum
from envs.worlds.supervised import SupervisedWorld

__all__ = ["REGISTRY", "make", "names", "register", "registered", "unregister", "World",
           "LinearGaussian", "LogisticBernoulli", "SliceSum", "SupervisedWorld"]
