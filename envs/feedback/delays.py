"""Random reward delays, in whole rounds, for one lane and round
(:class:`envs.feedback.spec.Feedback` gives the distributions)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from envs.feedback.spec import FeedbackParams

LONGEST = 2.0**30  # delays are capped here before becoming int32 (any window is shorter)


def _geometric(mean: Array, u: Array) -> Array:
    """⌊log(u) / log(1 − p)⌋ with p = 1/(1 + mean), u in (0, 1]: P(k) = p(1 − p)^k."""
    return jnp.floor(jnp.log(u) / jnp.log1p(-1.0 / (1.0 + mean)))


def _lognormal(mean: Array, sigma: Array, z: Array) -> Array:
    """⌊exp(μ + σz)⌋ with μ = log(mean) − σ²/2, so exp(μ + σZ) has mean ``mean``."""
    return jnp.floor(jnp.exp(jnp.log(mean) - 0.5 * sigma * sigma + sigma * z))


def sample_delay(kind: str, params: FeedbackParams, key: Array) -> Array:
    """One reward's delay in rounds, () int32 >= 0.

    Args:
        kind: the delay distribution (:data:`envs.feedback.spec.DELAY_KINDS`).
        params: this lane's numeric settings.
        key: the round's delay key; the draws are ``uniform(key, (3,))``: the slow/fast
            choice of a mixture, the uniform of a geometric delay and, through its normal
            quantile, a log-normal's z.
    """
    u = jax.random.uniform(key, (3,), jnp.float32)
    tail = 1.0 - u[1]  # in (0, 1]
    if kind == "none":
        delay = jnp.zeros((), jnp.float32)
    elif kind == "fixed":
        delay = jnp.round(params.delay_mean)
    elif kind == "geometric":
        delay = _geometric(params.delay_mean, tail)
    elif kind == "lognormal":
        z = jax.scipy.special.ndtri(jnp.clip(u[1], 1e-7, 1.0 - 1e-7))
        delay = _lognormal(params.delay_mean, params.delay_sigma, z)
    elif kind == "mixture":
        mean = jnp.where(u[0] < params.slow_share, params.slow_mean, params.delay_mean)
        delay = _geometric(mean, tail)
    else:
        raise ValueError(f"unknown delay kind {kind!r}")
    return jnp.minimum(jnp.maximum(delay, 0.0), LONGEST).astype(jnp.int32)
