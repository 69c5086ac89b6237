"""Simulated worlds: the protocol every world follows, the world families (the
nonlinear benchmarks of neural bandits included: ``wheel``, ``neural-synthetic``) and the
registry (``make("linear-gaussian", n_arms=5, dim=10)``), and drifts that make a
world change over time (``make_drift("gradual", world, rate=0.01)``)."""

from envs.worlds.base import World
from envs.worlds.covariate_shift import CovariateShiftWorld
from envs.worlds.drift import AbruptWorld, GradualWorld, SeasonalWorld
from envs.worlds.linear import LinearGaussian, LogisticBernoulli
from envs.worlds.neural_synthetic import NeuralSyntheticWorld
from envs.worlds.registry import (
    DRIFTS,
    REGISTRY,
    drift_names,
    make,
    make_drift,
    names,
    register,
    register_drift,
    registered,
    unregister,
)
from envs.worlds.slice_sum import SliceSum
from envs.worlds.supervised import SupervisedWorld
from envs.worlds.wheel import WheelWorld
from envs.worlds.wrapper import DriftWorld

__all__ = ["REGISTRY", "make", "names", "register", "registered", "unregister", "World",
           "LinearGaussian", "LogisticBernoulli", "SliceSum", "SupervisedWorld",
           "WheelWorld", "NeuralSyntheticWorld",
           "DRIFTS", "drift_names", "make_drift", "register_drift", "DriftWorld",
           "AbruptWorld", "GradualWorld", "SeasonalWorld", "CovariateShiftWorld"]
