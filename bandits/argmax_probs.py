"""Thompson sampling's action distribution over independent Gaussian arm scores, by
quadrature instead of Monte Carlo.

With scores X_b ~ N(m_b, s_b²) independent, the largest score has the distribution
function G(x) = Π_b F_b(x), and dG = G · Σ_b d log F_b: the mass of the maximum in a
cell [x₁, x₂], G(x₂) − G(x₁), splits across the arms in proportion to the growth of each
one's log F_b, weighted by G. :func:`gaussian_argmax_probs` cuts the real line at every
arm's own nodes m_b + s_b·z_j (a union grid, sorted), so that a narrow arm (a
well-explored one, s = 0.01) gets cells as fine as a wide one (s = 1). In each cell,
with L = log G as the variable, it models arm a's instantaneous share
r_a = λ_a / Σ_b λ_b (λ_b = f_b / F_b) by the quadratic that matches r_a at both ends and
its exact mean over the cell, Δlog F_a / ΔL, and integrates e^L · r_a in closed form.
The cells' parts add up to G(x₂) − G(x₁) exactly, so the probabilities telescope to 1.

A zero scale is a deterministic arm: below the largest deterministic score M no arm can
win, and the mass G(M) goes to the deterministic arms tied at M, split evenly as
:func:`bandits.base.greedy` splits exact ties.

Accuracy at the default 10 nodes per arm, in float32 against a float64 integral: an
absolute error below 2e-4 (K from 2 to 10, scale ratios up to 10⁴, far-apart means,
masked and deterministic arms); the error falls about as n_nodes⁻⁴. A probability far
below 1e-3 is right in absolute terms but only roughly in relative ones (about 15% at
1e-6).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array, lax

Z_MAX = 6.5  # each arm's nodes span m ± Z_MAX·s; Φ(−6.5) ≈ 4e-11 lies beyond
NODE_SPREAD = 2.5  # z_j = Z_MAX·sinh(NODE_SPREAD·t_j)/sinh(NODE_SPREAD), t_j even in [−1, 1]
Z_CLIP = 12.0  # |standardised score| is clipped here, where Φ(−12) ≈ 2e-33 is still normal
LOG_SQRT_2PI = float(0.5 * np.log(2.0 * np.pi))
SQRT_HALF = float(np.sqrt(0.5))
SERIES_TAIL = 1e-2  # log(1 − q) by its series below this q (1 − q would round)
SMALL_GROWTH = 0.1  # below this ΔL, the cell integrals use their Taylor series
RELATIVE_TINY = 1e-6  # an arm this much narrower than the widest counts as deterministic
#   (its nodes would round onto its mean in float32; the error is of order this ratio)


def standard_nodes(n_nodes: int) -> np.ndarray:
    """The z_j of every arm's nodes: ``n_nodes`` points in [−Z_MAX, Z_MAX], denser near 0."""
    t = np.linspace(-1.0, 1.0, n_nodes)
    return Z_MAX * np.sinh(NODE_SPREAD * t) / np.sinh(NODE_SPREAD)


def sort_network(x: Array) -> Array:
    """``x`` sorted ascending along its last axis by a bitonic sorting network (padded
    with +inf to a power of two): compare-exchanges of whole slices, which vectorise
    over leading (vmapped) axes where a comparison sort runs row by row."""
    n = x.shape[-1]
    levels = max(1, int(np.ceil(np.log2(n))))
    size = 2**levels
    lead = x.shape[:-1]
    x = jnp.concatenate([x, jnp.full(lead + (size - n,), jnp.inf, x.dtype)], axis=-1)
    for merged in range(1, levels + 1):  # bitonic merges of blocks of 2**merged
        for gap in range(merged - 1, -1, -1):  # compare elements 2**gap apart
            pairs = x.reshape(lead + (size // 2 ** (gap + 1), 2, 2**gap))
            lo = jnp.minimum(pairs[..., 0, :], pairs[..., 1, :])
            hi = jnp.maximum(pairs[..., 0, :], pairs[..., 1, :])
            block = np.arange(size // 2 ** (gap + 1)) * 2 ** (gap + 1) // 2**merged
            down = jnp.asarray(block % 2 == 1)[:, None]  # odd blocks sort descending
            x = jnp.stack([jnp.where(down, hi, lo), jnp.where(down, lo, hi)], axis=-2)
            x = x.reshape(lead + (size,))
    return x[..., :n]


def log_cdf_and_hazard(x: Array, mean: Array, scale: Array, random: Array):
    """log F_b(x) and λ_b(x) = f_b(x)/F_b(x) for every arm b at every point of ``x`` (n,):
    two (n_arms, n) arrays, 0 for arms that are not random (deterministic arms lie below
    every point, masked arms do not compete). Accurate in both tails for |z| <= Z_CLIP."""
    s = jnp.where(random, scale, 1.0)[:, None]
    z = jnp.clip((x - mean[:, None]) / s, -Z_CLIP, Z_CLIP)
    tail = 0.5 * lax.erfc(jnp.abs(z) * SQRT_HALF)  # min(Φ(z), 1 − Φ(z)), no cancellation
    upper = z >= 0
    cdf = jnp.where(upper, 1.0 - tail, tail)
    series = -tail * (1.0 + tail * (0.5 + tail * (1.0 / 3.0 + tail * 0.25)))  # log1p(−tail)
    log_f = jnp.where(upper & (tail < SERIES_TAIL), series, jnp.log(cdf))
    # in log space: s·F underflows (a narrow arm, s ~ 1e-6, deep in its lower tail)
    hazard = jnp.exp(-0.5 * z * z - LOG_SQRT_2PI - log_f) / s
    random = random[:, None]
    return jnp.where(random, log_f, 0.0), jnp.where(random, hazard, 0.0)


def _cell_moments(growth: Array):
    """∫₀¹ tⁿ e^{d(t−1)} d dt for n = 0, 1, 2 at every cell's d = ΔL >= 0 (in units of
    G at the cell's upper end)."""
    d = jnp.maximum(growth, SMALL_GROWTH)
    i0 = -jnp.expm1(-growth)
    i1 = 1.0 + jnp.expm1(-d) / d
    i2 = 1.0 - 2.0 * i1 / d
    small = growth < SMALL_GROWTH
    g = growth
    i1 = jnp.where(small, g / 2 - g * g / 6 + g**3 / 24, i1)
    i2 = jnp.where(small, g / 3 - g * g / 12 + g**3 / 60, i2)
    return i0, i1, i2


def _cell_sums(log_f: Array, hazard: Array) -> Array:
    """(n_arms,): the mass of the maximum summed over the cells between consecutive
    points, by arm (see the module docstring).

    In a cell, with d = ΔL, G₂ = G at its upper end, r₁, r₂ the shares λ_b / Σλ at its
    ends and m = Δlog F_b / d the mean share, the quadratic model integrates to
    G₂ · [r₁ (i₀ − 4 i₁ + 3 i₂) + r₂ (3 i₂ − 2 i₁) + 6 m (i₁ − i₂)] (``_cell_moments``).
    A cell with an end where every λ is 0 splits its mass by m alone. Summed over cells,
    the result is two matrix–vector products with per-point weights, λ·w and log F·w′
    (the Δlog F_b of consecutive cells telescoped), which read the (n_arms, n) arrays
    once: XLA would otherwise recompute them inside each consumer.
    """
    ones = jnp.ones(log_f.shape[0], log_f.dtype)
    log_g = ones @ log_f
    g = jnp.exp(log_g[1:])
    total = jnp.maximum(log_g[1:] - log_g[:-1], 0.0)
    i0, i1, i2 = _cell_moments(total)
    h = ones @ hazard
    inv_h = jnp.where(h > 0, 1.0 / jnp.where(h > 0, h, 1.0), 0.0)
    ends = (h[:-1] > 0) & (h[1:] > 0)
    w_lower = jnp.where(ends, g * (i0 - 4.0 * i1 + 3.0 * i2), 0.0) * inv_h[:-1]
    w_upper = jnp.where(ends, g * (3.0 * i2 - 2.0 * i1), 0.0) * inv_h[1:]
    w_mean = jnp.where(ends, 6.0 * g * (i1 - i2), g * i0) / jnp.where(total > 0, total, 1.0)
    zero = jnp.zeros(1, g.dtype)
    w_hazard = jnp.concatenate([w_lower, zero]) + jnp.concatenate([zero, w_upper])
    w_log_f = jnp.concatenate([zero, w_mean]) - jnp.concatenate([w_mean, zero])
    return hazard @ w_hazard + log_f @ w_log_f


def gaussian_argmax_probs(mean: Array, scale: Array, mask: Array, n_nodes: int = 10
                          ) -> Array:
    """P(arm a is the largest of independent X_b ~ N(mean_b, scale_b²), eligible b).

    Args:
        mean: (n_arms,) float, finite.
        scale: (n_arms,) float, >= 0; 0 makes an arm deterministic.
        mask: (n_arms,) bool, eligible arms (at least one).
        n_nodes: nodes per arm (static, >= 2; :func:`standard_nodes`); the sorted grid
            has n_arms · n_nodes + 2 points.

    Returns:
        (n_arms,) float32 probabilities summing to 1: exactly 0 on ineligible arms and
        on deterministic arms below the largest deterministic one; deterministic arms
        tied at the top share their mass evenly. An arm whose scale is below
        ``RELATIVE_TINY`` × the widest eligible arm's counts as deterministic.
    """
    mean, scale = mean.astype(jnp.float32), scale.astype(jnp.float32)
    widest = jnp.max(jnp.where(mask, scale, 0.0))
    random = mask & (scale > RELATIVE_TINY * widest)  # a far narrower arm: deterministic
    deterministic = mask & ~random
    floor = jnp.max(jnp.where(deterministic, mean, -jnp.inf))
    tied = deterministic & (mean == floor)
    z = jnp.asarray(standard_nodes(n_nodes), jnp.float32)
    x = jnp.where(random[:, None], mean[:, None] + scale[:, None] * z, jnp.inf)
    x = sort_network(jnp.maximum(x.ravel(), floor))
    x = jnp.concatenate([floor[None], x, jnp.full((1,), jnp.inf, jnp.float32)])
    log_f, hazard = log_cdf_and_hazard(x, mean, scale, random)
    probs = _cell_sums(log_f, hazard)
    at_floor = jnp.exp(jnp.sum(log_f[:, 0])) / jnp.maximum(jnp.sum(tied), 1)
    probs = jnp.where(mask, jnp.maximum(probs + jnp.where(tied, at_floor, 0.0), 0.0), 0.0)
    return probs / jnp.sum(probs)


def chosen_log_lower_bound(draw: Array, choice: Array, mean: Array, scale: Array,
                           mask: Array) -> Array:
    """A lower bound on log P(``choice`` is the argmax), from the draw that chose it.

    For any t, P(a wins) >= P(X_a > t) · Π_{b≠a} P(X_b < t); the bound takes the better
    of t = the runner-up's draw and t = the chosen arm's draw (deterministic arms lie
    below both, since the chosen arm beat them). −inf for a deterministic choice. Exact
    in real arithmetic; the standardised scores are clipped at ±Z_CLIP, so a bound
    below about 1e-33 may overstate its (still negligible) value.
    """
    mean, scale = mean.astype(jnp.float32), scale.astype(jnp.float32)
    random = mask & (scale > 0)
    chosen = jnp.arange(mean.shape[-1]) == choice
    runner_up = jnp.max(jnp.where(mask & ~chosen, draw, -jnp.inf))
    t = jnp.stack([runner_up, jnp.sum(jnp.where(chosen, draw, 0.0))])
    log_below, _ = log_cdf_and_hazard(t, mean, scale, random)  # (n_arms, 2)
    log_above, _ = log_cdf_and_hazard(-t, -mean, scale, random)
    others = jnp.sum(jnp.where(chosen[:, None], 0.0, log_below), axis=0)
    mine = jnp.sum(jnp.where(chosen[:, None], log_above, 0.0), axis=0)
    return jnp.where(jnp.any(chosen & random), jnp.max(others + mine), -jnp.inf)


def thompson_propensities(mean: Array, scale: Array, mask: Array, draw: Array,
                          choice: Array, n_nodes: int = 10) -> Array:
    """:func:`gaussian_argmax_probs`, with the arm ``choice`` that ``draw`` picked kept
    strictly positive, so a logged propensity is never 0.

    The chosen arm's probability is raised to :func:`chosen_log_lower_bound` where the
    quadrature falls below it (which only moves it towards the truth), the vector is
    renormalised, and a chosen entry that still underflows becomes the smallest normal
    float32 (1.2e-38): the reported distribution then differs from the quadrature's by
    at most its own error plus 1.2e-38.
    """
    probs = gaussian_argmax_probs(mean, scale, mask, n_nodes)
    chosen = jnp.arange(mean.shape[-1]) == choice
    bound = jnp.exp(chosen_log_lower_bound(draw.astype(jnp.float32), choice, mean, scale,
                                           mask))
    probs = jnp.where(chosen, jnp.maximum(probs, bound), probs)
    probs = probs / jnp.sum(probs)
    return jnp.where(chosen, jnp.maximum(probs, jnp.finfo(jnp.float32).tiny), probs)
