"""NeuralLinear (Riquelme, Tucker and Snoek, 2018): Thompson sampling with a Bayesian
linear regression on the network's last hidden layer.

The network learns a representation φ(x_a) (m features); one ridge regression
θ̂ = A⁻¹ Σ φ r, A = reg·I + Σ φφᵀ, over the played arms' features, shared by the arms,
gives each arm's score the posterior N(φ_aᵀθ̂, v²·φ_aᵀA⁻¹φ_a). The policy draws every
arm's score from that distribution independently and plays the largest (each score
has its exact marginal posterior, as in :func:`bandits.linear.lin_ts`; the paper's
Normal-inverse-gamma prior on the noise is replaced by the fixed scale ``v``), so
``probs`` are exact (:func:`bandits.base.gaussian_thompson`). ``update`` adds the
played arm's features to the regression (recursive least squares); after each
training the regression is recomputed on the buffer with the new representation (ΦᵀΦ
and Φᵀr over the filled slots, chunk by chunk, and a Gauss–Jordan inverse,
:func:`bandits.linalg.spd_inverse`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import Decision, Policy, draw_gaussian_scores, gaussian_thompson
from bandits.linalg import spd_inverse
from bandits.neural.core import NeuralParts, NeuralSettings, neural_policy
from bandits.neural.network import features
from bandits.neural.replay import network_input, replay_filled


class NeuralLinearParams(NamedTuple):
    v: Array = 0.5  # posterior scale: scores ~ N(φᵀθ̂, v²·φᵀA⁻¹φ), >= 0
    reg: Array = 1.0  # ridge regularisation of the head, > 0
    lr: Array = 1e-2  # learning rate
    weight_decay: Array = 0.0  # λ of λ/2·‖θ − θ₀‖² in the network's loss


class Posterior(NamedTuple):
    a_inv: Array  # (m, m) A⁻¹
    theta: Array  # (m,) θ̂


def prior(reg: Array, m: int) -> Posterior:
    return Posterior(jnp.eye(m, dtype=jnp.float32) / reg, jnp.zeros((m,), jnp.float32))


def rls(post: Posterior, phi: Array, reward: Array, weight: Array = 1.0) -> Posterior:
    """The regression after one more observation (features ``phi``, ``reward``),
    counted ``weight`` (0 or 1) times."""
    ax = jnp.sum(post.a_inv * phi[None, :], axis=1)  # A⁻¹φ; elementwise, so the engine's
    # lanes-last layout vectorises it over lanes (11% off a round against a batched dot)
    gain = weight / (1.0 + phi @ ax)
    theta = post.theta + gain * (reward - phi @ post.theta) * ax
    return Posterior(post.a_inv - gain * ax[:, None] * ax[None, :], theta)


# Buffer rows the refresh reads at a time: it reads only the chunks that hold an
# observation, so a buffer a quarter full costs a quarter of a full one.
REFRESH_ROWS = 256


def _buffer_moments(net, buffer, n_arms: int, arm_features: int) -> tuple[Array, Array]:
    """ΦᵀΦ (m, m) and Φᵀr (m,) over the buffer's filled slots (a prefix of the ring
    until it is full), :data:`REFRESH_ROWS` slots at a time."""
    n = buffer.action.shape[0]
    rows = min(REFRESH_ROWS, n)
    filled = replay_filled(buffer)

    def chunk(i, acc):
        start = jnp.minimum(i * rows, n - rows)  # the last chunk overlaps, masked
        index = start + jnp.arange(rows)
        take = lambda x: jax.lax.dynamic_slice_in_dim(x, start, rows)  # noqa: E731
        x = network_input(take(buffer.inputs), take(buffer.action), n_arms, arm_features)
        phi = features(net, x)
        kept = phi * ((index >= i * rows) & (index < filled)).astype(phi.dtype)[:, None]
        return acc[0] + kept.T @ phi, acc[1] + kept.T @ take(buffer.reward)

    z = jnp.zeros_like(net[-1].weight[:, 0])  # the lane's own zeros (varying per lane
    zero = (z[:, None] * z[None, :], z)  # under shard_map, as the loop's sums are)
    return jax.lax.fori_loop(0, (filled + rows - 1) // rows, chunk, zero)


def _refresh(n_arms: int, arm_features: int):
    def refresh(params, state) -> Posterior:
        """The regression on the buffer's observations with the current network:
        A = reg·I + ΦᵀΦ and Φᵀr over the filled slots, A⁻¹ by Gauss–Jordan."""
        gram, xty = _buffer_moments(state.net, state.buffer, n_arms, arm_features)
        m = gram.shape[0]
        a_inv = spd_inverse(params.reg * jnp.eye(m, dtype=jnp.float32) + gram)
        return Posterior(a_inv, a_inv @ xty)

    return refresh


def _decide(n_prob_nodes: int):
    def decide(params, state, noise, inputs, mask) -> Decision:
        phi = features(state.net, inputs)
        post = state.stats
        mean = phi @ post.theta
        var = jnp.sum((phi @ post.a_inv) * phi, axis=-1)
        scale = params.v * jnp.sqrt(jnp.maximum(var, 0.0))
        return gaussian_thompson(mean, scale, noise, mask, n_prob_nodes)

    return decide


def neural_linear(n_arms: int, dim: int, n_prob_nodes: int = 10, **settings) -> Policy:
    """NeuralLinear (static ``settings``: :class:`NeuralSettings`; ``n_prob_nodes``:
    quadrature nodes per arm for ``probs``)."""
    s = NeuralSettings(**settings)
    parts = NeuralParts(
        NeuralLinearParams(), draw_gaussian_scores(n_arms), _decide(n_prob_nodes),
        lambda params, net: prior(params.reg, s.hidden),
        learn=lambda params, state, x, reward: rls(state.stats, features(state.net, x),
                                                   reward),
        refresh=_refresh(n_arms, s.arm_features))
    return neural_policy("neural_linear", n_arms, dim, s, parts)
