"""How a rollout is cut up: lanes over devices and groups, rounds into blocks and chunks,
and the rounds at which every seed's regret is kept.

Every (grid point, seed) pair is a *lane*. Seeds are padded so each device holds the same
number of lanes, advanced in groups that fill whole SIMD vectors (:func:`plan_lanes`).
Rounds run in *blocks*, whose random numbers are drawn together, and blocks in *chunks*,
one call of the compiled program each (:func:`make_plan`). None of these choices changes
a seed's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

VECTOR_LANES = 8  # lanes per SIMD register (float32, AVX2); group sizes are multiples


def log_checkpoints(n_rounds: int, n_points: int = 60) -> np.ndarray:
    """Log-spaced rounds in [1, n_rounds] (1-based), always including both ends."""
    pts = np.unique(np.round(np.logspace(0, np.log10(n_rounds), n_points)).astype(int))
    return np.unique(np.concatenate([pts, [n_rounds]]))


def checkpoints_in_chunk(checkpoints: np.ndarray, t0: int,
                         chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoints that fall in the chunk of rounds ``t0 + 1 .. t0 + chunk``.

    Args:
        checkpoints: (C,) 1-based rounds, increasing (:func:`log_checkpoints`).
        t0: rounds done before the chunk.
        chunk: rounds in the chunk.

    Returns:
        ``(index, selected)``: (C,) int32 0-based rounds within the chunk of the selected
        checkpoints, first, then zeros; and (C,) bool, which checkpoints are in the chunk.
    """
    selected = (checkpoints > t0) & (checkpoints <= t0 + chunk)
    index = np.zeros(len(checkpoints), np.int32)
    index[: selected.sum()] = checkpoints[selected] - t0 - 1
    return index, selected


def largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` that is at most ``at_most`` (at least 1)."""
    for d in range(max(1, min(n, at_most)), 0, -1):
        if n % d == 0:
            return d
    return 1


def padded_seeds(n_seeds: int, n_grid: int, n_devices: int, group_lanes: int) -> int:
    """Seeds per grid point after padding, so that lanes split into aligned groups.

    Each device gets the same number of lanes, a multiple of ``group_lanes`` when it has
    more than that (it then advances them ``group_lanes`` at a time) and a multiple of
    :data:`VECTOR_LANES` otherwise, so no group ends in a partial SIMD vector. Padded
    seeds are real, independent seeds whose results are dropped; a seed's numbers never
    depend on the padding.
    """
    s = n_seeds
    while True:
        lanes, rem = divmod(n_grid * s, n_devices)
        unit = group_lanes if lanes > group_lanes else VECTOR_LANES
        if rem == 0 and lanes % unit == 0:
            return s
        s += 1


class LanePlan(NamedTuple):
    """Which simulation every lane runs, and how lanes are spread over devices.

    Lane ``i`` runs seed ``seed_index[i]`` at grid point ``grid_index[i]``; lanes are
    ordered grid point by grid point, ``seeds_padded`` seeds each.
    """

    n_seeds: int  # S: seeds asked for, per grid point
    n_grid: int  # G: hyperparameter points
    seeds_padded: int  # S' >= S: seeds run per grid point
    n_lanes: int  # L = G·S'
    n_devices: int
    lanes_per_device: int  # L / devices
    n_groups: int  # groups a device's lanes advance in, one after the other
    seed_index: np.ndarray  # (L,) int: the seed of every lane
    grid_index: np.ndarray  # (L,) int: the grid point of every lane


def plan_lanes(n_seeds: int, n_grid: int, n_devices: int, group_lanes: int,
               first_seed: int = 0) -> LanePlan:
    """Pads the seeds (:func:`padded_seeds`) and assigns every lane its seed and grid
    point; seeds are ``first_seed, first_seed + 1, ...`` at every grid point."""
    s_pad = padded_seeds(n_seeds, n_grid, n_devices, group_lanes)
    n_lanes = n_grid * s_pad
    per_device = n_lanes // n_devices
    return LanePlan(
        n_seeds=n_seeds, n_grid=n_grid, seeds_padded=s_pad, n_lanes=n_lanes,
        n_devices=n_devices, lanes_per_device=per_device,
        n_groups=max(1, per_device // group_lanes),
        seed_index=np.tile(first_seed + np.arange(s_pad), n_grid),
        grid_index=np.repeat(np.arange(n_grid), s_pad))


@dataclass(frozen=True)
class Plan:
    block: int  # rounds whose random numbers are drawn together
    chunk: int  # rounds per call of the compiled chunk (a multiple of ``block``)
    n_chunks: int


def make_plan(n_rounds: int, lanes_per_device: int, chunk_rounds: int | None = None,
              block_rounds: int | None = None, record: int = 0,
              n_lanes: int = 1, hop: int | None = None, lane_rounds: int = 2**17,
              output_floats: int = 2**24) -> Plan:
    """Chooses block and chunk lengths that divide ``n_rounds`` (and, with a monitor,
    its ``hop``, so hops end at block ends).

    Blocks hold about ``lane_rounds`` (2^17 on CPU) lane-rounds per device, between 16
    and 64 rounds (so their random numbers stay in cache; measured best for LinUCB at
    1,000 and 10,000 seeds); chunks hold at most ``output_floats`` (2^24 on CPU)
    lane-rounds of output (floats, when ``record`` floats per lane-round are recorded as
    trajectories) and at least 1/16 of the horizon, for a progress bar. The backend's
    values are :mod:`envs.engine.backend`'s.
    """
    target_block = block_rounds or max(16, min(64, lane_rounds // max(lanes_per_device, 1)))
    block = largest_divisor(n_rounds if hop is None else math.gcd(n_rounds, hop),
                            target_block)
    blocks = n_rounds // block
    budget = output_floats // max(record, 1) // max(n_lanes, 1)
    target = chunk_rounds or max(block, min(max(n_rounds // 16, block), budget))
    per_chunk = largest_divisor(blocks, max(1, target // block))
    return Plan(block, block * per_chunk, blocks // per_chunk)
