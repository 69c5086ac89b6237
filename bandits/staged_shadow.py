"""The shadow stage's off-policy estimates of a staged rollout's candidate
(:func:`bandits.staged.staged_rollout`), from the incumbent's served decisions.

* **Pending ring.** At each shadow decision the incumbent's action ``A`` gets the weight
  ``w = π_c(A|x) / π_i(A|x)`` and the *baseline* ``b = Σ_a π_c(a|x) q̂(a) − w·q̂(A)``;
  both wait in a ring of ``attribution_window + 1`` slots, keyed by the context's 32-bit
  hash, until the reward arrives (at most that late, so the slot is still there).
* **Estimates.** The reward adds the terms of IPS ``Σwr/n``, SNIPS ``Σwr/Σw`` and the
  doubly robust (DR) estimate ``Σ(b + w·r)/n``, whose term is
  ``Σ_a π_c(a|x) q̂(a) + w·(r − q̂(A))``; :func:`shadow_estimates` turns the sums into
  the estimates with CLT intervals.
* **Reward model.** ``q̂(a)`` is the running mean of the shadow rewards of arm ``a`` learnt
  so far; an arm without one takes the mean of all shadow rewards learnt so far (the
  rewards of every arm share one scale, so this is the best context-free guess), and 0
  before any. The model is context-free, the simplest honest one inside the program: a
  ridge model per arm on the same rewards is the next step, and would only lower DR's
  variance. DR is unbiased whatever ``q̂`` is, as long as it is *predictable*.
* **Why the baseline is stored, not ``π_c(·|x)``.** ``b`` is computed when the decision is
  made, from the rewards learnt before that round, which all belong to decisions made
  before it, whatever the delays. So, in decision order, each term's ``q̂`` is fixed
  before its context, action and reward are drawn, the terms minus the candidate's value
  form a martingale-difference sequence, and the CLT interval applies. Keeping the K
  probabilities to apply the ``q̂`` current when the reward arrives would use a fresher
  model, but under random delays that model may hold rewards of decisions made after this
  one (decisions the incumbent may have made having seen this context), which breaks the
  ordering; it also costs K floats per slot instead of one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from bandits.safety import murmur3_words

N_OPE = 8  # shadow sums: n, Σw, Σwr, Σw²r², Σw², Σw²r, Σdr, Σdr²


def vector(*values) -> Array:
    """A (len(values),) float32 vector of scalars, built with selects (a ``jnp.stack``
    leaves the engine's batch-last layout)."""
    index = jnp.arange(len(values))
    out = jnp.zeros((len(values),), jnp.float32)
    for i, v in enumerate(values):
        out = jnp.where(index == i, jnp.asarray(v, jnp.float32), out)
    return out


def context_hash(context: Array) -> Array:
    """() uint32 MurmurHash3 of the context's float32 bits (the key of pending slots)."""
    return murmur3_words(jax.lax.bitcast_convert_type(jnp.asarray(context, jnp.float32),
                                                      jnp.uint32))


def reward_model(arm_rewards: Array) -> Array:
    """(K,) q̂ from ``arm_rewards`` (K, 2) (count, sum of each arm's shadow rewards): each
    arm's mean, the pooled mean for an arm without rewards, 0 before any."""
    count, total = arm_rewards[:, 0], arm_rewards[:, 1]
    pooled = jnp.sum(total) / jnp.maximum(jnp.sum(count), 1.0)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), pooled)


def decision_terms(arm_rewards: Array, candidate_probs: Array, incumbent_probs: Array,
                   action: Array) -> tuple[Array, Array]:
    """(weight ``π_c(A|x)/π_i(A|x)``, baseline ``Σ_a π_c(a|x) q̂(a) − w·q̂(A)``) of the
    incumbent's action ``A``, float32, with ``q̂`` the model of the rewards learnt so
    far."""
    chosen = jnp.arange(incumbent_probs.shape[-1]) == action
    weight = (jnp.sum(jnp.where(chosen, candidate_probs, 0.0))
              / jnp.maximum(jnp.sum(jnp.where(chosen, incumbent_probs, 0.0)), 1e-30))
    q = reward_model(arm_rewards)
    baseline = jnp.sum(candidate_probs * q) - weight * jnp.sum(jnp.where(chosen, q, 0.0))
    return weight.astype(jnp.float32), baseline.astype(jnp.float32)


def shadow_terms(pending_hash: Array, pending_weight: Array, pending_baseline: Array,
                 context: Array, reward: Array) -> tuple[Array, Array]:
    """((N_OPE,) the reward's terms of the shadow sums, () bool: a pending shadow decision
    has this context). Terms are zero when none does; equal contexts share their mean
    weight and baseline; a slot with a non-finite weight or baseline is empty."""
    match = ((pending_hash == context_hash(context)) & jnp.isfinite(pending_weight)
             & jnp.isfinite(pending_baseline))
    found = jnp.sum(match.astype(jnp.float32))
    w = jnp.sum(jnp.where(match, pending_weight, 0.0)) / jnp.maximum(found, 1.0)
    b = jnp.sum(jnp.where(match, pending_baseline, 0.0)) / jnp.maximum(found, 1.0)
    dr = b + w * reward
    terms = vector(1.0, w, w * reward, (w * reward)**2, w * w, w * w * reward, dr, dr * dr)
    return jnp.where(found > 0, terms, 0.0), found > 0


def learn_reward(arm_rewards: Array, shadow: Array, action: Array, reward: Array) -> Array:
    """``arm_rewards`` (K, 2) with a shadow decision's reward counted for its arm."""
    row = (jnp.arange(arm_rewards.shape[0]) == action)[:, None] & shadow
    return arm_rewards + jnp.where(row, vector(1.0, reward), 0.0)


def shadow_estimates(ope, z: float = 1.959964) -> dict[str, np.ndarray]:
    """The candidate's off-policy value from the shadow sums ``ope`` (..., N_OPE) (host):
    ``n``, ``ips`` = Σwr/n, ``snips`` = Σwr/Σw and ``dr`` = Σdr/n, each with its CLT
    standard error (``*_se``; SNIPS by the delta method, ``sqrt(Σw²(r − V̂)²)/Σw``) and the
    interval ``*_low``, ``*_high`` at ``±z`` standard errors (NaN without shadow
    rewards)."""
    o = np.asarray(ope, np.float64)
    n, sw, swr, sw2r2, sw2, sw2r, sdr, sdr2 = (o[..., i] for i in range(N_OPE))
    with np.errstate(invalid="ignore", divide="ignore"):
        ips = swr / n
        ips_se = np.sqrt(np.maximum(sw2r2 / n - ips**2, 0.0) / np.maximum(n - 1, 1))
        snips = swr / sw
        snips_se = np.sqrt(np.maximum(sw2r2 - 2 * snips * sw2r + snips**2 * sw2, 0.0)) / sw
        dr = sdr / n
        dr_se = np.sqrt(np.maximum(sdr2 / n - dr**2, 0.0) / np.maximum(n - 1, 1))
    out = {"n": n, "ips": ips, "ips_se": ips_se, "snips": snips, "snips_se": snips_se,
           "dr": dr, "dr_se": dr_se}
    for key in ("ips", "snips", "dr"):
        out[f"{key}_low"] = out[key] - z * out[f"{key}_se"]
        out[f"{key}_high"] = out[key] + z * out[f"{key}_se"]
    return out
