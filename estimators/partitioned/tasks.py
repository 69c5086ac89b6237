"""The work one partition (a file of the dataset) does, as plain functions of a picklable
:class:`Plan`, so a worker process runs them as they run here: the reward model's
sufficient statistics on its held-out rows, and every candidate's sums
(:class:`.sums.CandidateSums`) on them.

Within a file, rows are read a batch at a time; every JAX function sees batches padded
to ``batch_rows`` rows, so each compiles once. A row's randomness — its bootstrap counts,
its fold, a sampling candidate's noise — comes from (seed, event id), never from where
the row sits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs.data.events.dataset import Dataset, stream_events
from estimators import ope
from estimators.bootstrap.keyed import NOISE_TAG, event_keys, keyed_poisson_counts, keyed_words
from estimators.gate.statistics import rows_probs
from estimators.partitioned import parts, ridge
from estimators.partitioned.sums import CandidateSums, candidate_sums, resample_sums


@dataclass(frozen=True)
class Plan:
    """Everything a partition's work depends on.

    Attributes:
        data: the opened dataset; held_out_from: rows at or after this time are held out.
        batch_rows, missing_reward: how rows are read (``load.missing_reward``).
        seed, n_boot: the evaluation's seed and resamples; estimators: name ->
            hyperparameters.
        model: the streamed ridge (None: no estimator needs one); theta: its per-fold
            coefficients (None before they are fitted).
        candidates: (name, checkpoint) pairs.
    """

    data: Dataset
    held_out_from: np.datetime64
    batch_rows: int
    missing_reward: float | None
    seed: int
    n_boot: int
    estimators: dict[str, dict[str, float]]
    model: ridge.RidgeSpec | None = None
    theta: np.ndarray | None = None
    candidates: tuple[tuple[str, Any], ...] = ()


def held_out_batches(plan: Plan, file: str) -> Iterator[tuple[Any, np.ndarray]]:
    """``(rows, event keys)`` of each batch's held-out rows in ``file`` (batches with
    none are skipped)."""
    for _, log in stream_events(plan.data, [file], batch_rows=plan.batch_rows,
                                missing_reward=plan.missing_reward):
        held = np.flatnonzero(log.timestamp >= plan.held_out_from)
        if held.size:
            yield log.data.take(held), event_keys(log.event_id[held])


def ridge_file(plan: Plan, file: str) -> tuple[np.ndarray, np.ndarray]:
    """The reward model's ``(gram, rhs)`` sums over ``file``'s held-out rows."""
    gram = rhs = 0.0
    for data, keys in held_out_batches(plan, file):
        g, r = ridge.batch_sums(plan.model, data.context, data.action, data.reward, keys,
                                plan.seed)
        gram, rhs = gram + g, rhs + r
    return gram, rhs


def _padded(x: np.ndarray, rows: int) -> np.ndarray:
    """``x`` with copies of its first row appended up to ``rows`` rows."""
    return x if len(x) >= rows else np.concatenate([x, np.repeat(x[:1], rows - len(x), 0)])


_COMPILED: dict = {}  # (checkpoint identity, key data) -> its compiled function


def _identity(ck) -> tuple:
    """What tells a checkpoint's content apart: algorithm, hyperparameters, sizes,
    version, training data and time (a worker gets a fresh copy of the same one with
    every file)."""
    return (ck.algorithm, repr(sorted(ck.hyperparameters.items())), ck.n_arms, ck.dim,
            ck.version, ck.data_hash, ck.created_at)


def _probs_fn(ck, key_data: tuple[int, ...]):
    """The compiled ``(context, mask, noise index) -> probs`` of a checkpoint, compiled
    once per process and reused for every file."""
    fn = _COMPILED.get((_identity(ck), key_data))
    if fn is None:
        key = jax.random.wrap_key_data(jnp.asarray(key_data, jnp.uint32))
        fn = jax.jit(functools.partial(rows_probs, ck.policy(), ck.params, ck.state, key))
        _COMPILED[(_identity(ck), key_data)] = fn
    return fn


def _noise_key(seed: int, index: int) -> tuple[int, ...]:
    """Candidate ``index``'s noise key (as hashable key data)."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), NOISE_TAG), index)
    return tuple(int(x) for x in np.asarray(jax.random.key_data(key)).ravel())


def candidate_probs(plan: Plan, index: int, data, keys: np.ndarray) -> np.ndarray:
    """(n, K) candidate ``index``'s probabilities on a batch; row i's noise is indexed by
    a word of (seed, its event key)."""
    n, b = data.n_rows, plan.batch_rows
    noise = np.asarray(keyed_words(jnp.asarray(_padded(keys, b)), seed=plan.seed,
                                   tag=NOISE_TAG))
    mask = np.ones((n, data.n_arms), bool) if data.mask is None else data.mask
    fn = _probs_fn(plan.candidates[index][1], _noise_key(plan.seed, index))
    return np.asarray(fn(_padded(np.asarray(data.context), b), _padded(mask, b), noise))[:n]


def _batch_columns(plan: Plan, data, keys) -> tuple[list, list]:
    """Each candidate's ``(rows, parts' columns (n, S) float64)`` and probabilities on
    one batch."""
    q = None if plan.model is None else ridge.predict(plan.model, plan.theta, data.context,
                                                      keys, plan.seed)
    out, probs = [], []
    for i in range(len(plan.candidates)):
        tp = candidate_probs(plan, i, data, keys)
        rows = ope.rows(np.asarray(data.reward, np.float32), data.action,
                        np.asarray(data.pscore, np.float32), tp, q)
        cols, _ = parts.columns(plan.estimators, rows)
        out.append((rows, np.asarray(cols, np.float64)))
        probs.append(tp)
    return out, probs


def evaluate_file(plan: Plan, file: str) -> list[CandidateSums | None]:
    """Every candidate's :class:`CandidateSums` over ``file``'s held-out rows (None for
    each when it has none)."""
    total: list[CandidateSums | None] = [None] * len(plan.candidates)
    for data, keys in held_out_batches(plan, file):
        counts = np.asarray(keyed_poisson_counts(jnp.asarray(_padded(keys, plan.batch_rows)),
                                                 seed=plan.seed, n_boot=plan.n_boot))
        counts = counts[:, :data.n_rows]
        per, probs = _batch_columns(plan, data, keys)
        boot = resample_sums(counts, np.concatenate([c for _, c in per], 1))
        width = per[0][1].shape[1]
        for i, ((rows, cols), tp) in enumerate(zip(per, probs)):
            s = candidate_sums(cols, boot[:, i * width:(i + 1) * width], data, rows, tp)
            total[i] = s if total[i] is None else total[i].merge(s)
    return total
