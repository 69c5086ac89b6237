"""Discounted LinUCB (D-LinUCB; Russac, Vernade & Cappé, 2019), one model per arm.

The paper's algorithm has one parameter θ shared by all actions. It keeps, after
round t (with action features A_t and reward X_t),

    V_t = γ V_{t−1} + A_t A_tᵀ + (1 − γ) λ I      (= λI + Σ_s γ^(t−s) A_s A_sᵀ),
    Ṽ_t = γ² Ṽ_{t−1} + A_t A_tᵀ + (1 − γ²) λ I   (= λI + Σ_s γ^(2(t−s)) A_s A_sᵀ),
    b_t = γ b_{t−1} + X_t A_t,                     θ̂_t = V_t⁻¹ b_t,

and plays argmax_a ⟨a, θ̂⟩ + β · sqrt(aᵀ V⁻¹ Ṽ V⁻¹ a). The disjoint version here is that
algorithm on block features: arm a's feature is the context placed in block a of a
K·d vector, so V, Ṽ are block diagonal and every block is one arm's (V_a, Ṽ_a, b_a).
All blocks are discounted every round, whichever arm was played, and the regulariser
(1 − γ)λI is added to every block, exactly as the shared algorithm does on the block
features. The paper's theoretical width β_t is replaced by a constant α, as
:func:`bandits.linear.lin_ucb` replaces LinUCB's. With γ = 1, V = Ṽ = λI + X_aᵀX_a and
the index is LinUCB's, xᵀθ̂_a + α·sqrt(xᵀV_a⁻¹x).

The discount makes each update a full-rank change of V, so the state keeps V, Ṽ and b
(not V⁻¹) and each decision solves one d×d system per arm (a Cholesky factorisation
written out element by element, :mod:`bandits.linalg`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from bandits.base import Decision, Policy, draw_tiebreak, greedy, one_hot
from bandits.linalg import spd_solve


class DiscountedRidgeState(NamedTuple):
    gram: Array  # (n_arms, dim, dim) V_a = λI + Σ_s γ^(t−s) x_s x_sᵀ 1{a_s = a}
    gram_sq: Array  # (n_arms, dim, dim) Ṽ_a = λI + Σ_s γ^(2(t−s)) x_s x_sᵀ 1{a_s = a}
    xty: Array  # (n_arms, dim) b_a = Σ_s γ^(t−s) r_s x_s 1{a_s = a}


class DiscountedLinUCBParams(NamedTuple):
    gamma: Array = 0.99  # discount per round, in (0, 1]
    alpha: Array = 1.0  # exploration: width multiplier, >= 0
    reg: Array = 1.0  # ridge regularisation λ, > 0


def discounted_ridge_scores(state: DiscountedRidgeState, x: Array):
    """Per-arm estimate xᵀθ̂_a and width² xᵀV_a⁻¹Ṽ_aV_a⁻¹x.

    Args:
        state: the discounted statistics.
        x: (dim,) the context.

    Returns:
        ``(mean, var)``, each (n_arms,).
    """
    n_arms, dim = state.xty.shape
    rhs = jnp.stack([state.xty, jnp.broadcast_to(x, (n_arms, dim))], axis=-1)  # (K, d, 2)
    sol = spd_solve(state.gram, rhs)
    theta, u = sol[..., 0], sol[..., 1]  # θ̂_a and V_a⁻¹x, (K, d)
    mean = jnp.sum(theta * x, axis=-1)
    var = jnp.sum(u * jnp.einsum("kij,kj->ki", state.gram_sq, u), axis=-1)
    return mean, jnp.maximum(var, 0.0)


def discounted_lin_ucb(n_arms: int, dim: int) -> Policy:
    """D-LinUCB, disjoint arms: argmax_a xᵀθ̂_a + α·sqrt(xᵀV_a⁻¹Ṽ_aV_a⁻¹x) (module doc)."""

    def init(params, key) -> DiscountedRidgeState:
        del key
        eye = params.reg * jnp.eye(dim, dtype=jnp.float32)
        grams = jnp.broadcast_to(eye, (n_arms, dim, dim))
        return DiscountedRidgeState(grams, grams, jnp.zeros((n_arms, dim), jnp.float32))

    def decide(params, state, noise, context, mask) -> Decision:
        mean, var = discounted_ridge_scores(state, context)
        return greedy(mean + params.alpha * jnp.sqrt(var), mask, noise["tiebreak"])

    def update(params, state, context, action, reward) -> DiscountedRidgeState:
        w = one_hot(action, n_arms)[:, None, None]
        outer = context[:, None] * context[None, :]
        eye = jnp.eye(dim, dtype=jnp.float32)
        g, g2 = params.gamma, params.gamma**2
        gram = g * state.gram + w * outer + ((1.0 - g) * params.reg) * eye
        gram_sq = g2 * state.gram_sq + w * outer + ((1.0 - g2) * params.reg) * eye
        xty = g * state.xty + w[:, :, 0] * (reward * context)
        return DiscountedRidgeState(gram, gram_sq, xty)

    return Policy("discounted_lin_ucb", n_arms, dim, DiscountedLinUCBParams(), init,
                  draw_tiebreak(n_arms), decide, update)
