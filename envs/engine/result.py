"""What a rollout returns (:class:`Rollout`), and how the chunks' outputs become it.

Inside the engine every lane-batched array has the lane axis (L = G·S' lanes: G grid
points, S' >= S seeds each, padding included); a :class:`Rollout` holds NumPy arrays
(G, S, ...) of the S seeds asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envs.engine.plan import LanePlan, Plan
from envs.engine.records import recorded_outputs, unpack_log_rows


@dataclass
class Rollout:
    """What a rollout returns. Arrays are NumPy; ``G`` grid points, ``S`` seeds.

    Attributes:
        rounds: (T,) round numbers 1..T.
        mean_regret: (G, T) mean over seeds of cumulative expected regret after round t.
        std_regret: (G, T) its standard deviation over seeds.
        checkpoints: (C,) the rounds at which every seed's value is kept.
        seed_regret: (G, S, C) cumulative regret of every seed at the checkpoints.
        total_reward: (G, S) realised reward summed over the run.
        trajectories: per-seed (G, S, T) ``action``, ``reward``, ``propensity`` and
            ``regret`` (instantaneous expected regret), when recorded, and ``delay``
            (rounds until the reward arrived, before censoring) with delayed feedback; with
            ``record="logs"`` also the log row's fields, (G, S, T, size) each
            (:data:`envs.engine.records.LOG_ROW_FIELDS`).
        grid: the hyperparameter values of each grid point, ``{name: (G,)}``.
        final_state: the policy state after the last round, leaves (G, S, ...): a
            trained policy, e.g. to evaluate off-policy.
        alerts: with a monitor, each alert rule's results ``{first, episodes,
            episodes_before, active}``, each (G, S, Th) over the rule's thresholds
            (:func:`envs.monitor.online.alert_results`); ``None`` otherwise.
        compile_s: wall time before the first round: compiling the chunk program, and
            compiling and running the per-lane set-up program (``setup_s`` of it).
        run_s: wall time of running the rounds (what ``agent_rounds_per_s`` divides by).
        setup_s: the set-up program's part of ``compile_s``.
        wall_s: wall time of the whole :func:`simulate` call; beyond ``compile_s +
            run_s`` it holds only argument checks and gathering the results.
    """

    policy: str
    env: str
    n_seeds: int
    rounds: np.ndarray
    mean_regret: np.ndarray
    std_regret: np.ndarray
    checkpoints: np.ndarray
    seed_regret: np.ndarray
    total_reward: np.ndarray
    grid: dict[str, np.ndarray]
    compile_s: float
    run_s: float
    setup_s: float
    wall_s: float
    plan: Plan
    n_devices: int
    trajectories: dict[str, np.ndarray] | None = None
    final_state: Any = None
    alerts: dict[str, dict[str, np.ndarray]] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def final_regret(self) -> np.ndarray:
        """(G, S) cumulative regret of every seed after the last round."""
        return self.seed_regret[:, :, -1]

    def quantiles(self, q) -> np.ndarray:
        """(len(q), G, C) quantiles across seeds of cumulative regret at checkpoints."""
        return np.quantile(self.seed_regret, np.asarray(q), axis=1)

    def agent_rounds_per_s(self) -> float:
        """Simulated rounds (grid points × seeds × rounds) per second of ``run_s``."""
        g = self.mean_regret.shape[0]
        return g * self.n_seeds * len(self.rounds) / self.run_s


def per_seed(x, lanes: LanePlan) -> np.ndarray:
    """(..., L) -> (G, S, ...): every grid point's seeds, padding dropped."""
    x = np.moveaxis(np.asarray(x), -1, 0)
    x = x.reshape((lanes.n_grid, lanes.seeds_padded) + x.shape[1:])
    return x[:, :lanes.n_seeds]


def decode_trajectories(chunks: list[tuple], record: str, lanes: LanePlan, n_arms: int,
                        dim: int, delayed: bool = False) -> dict[str, np.ndarray] | None:
    """Per-seed trajectories from every chunk's recorded outputs.

    Args:
        chunks: per chunk, one array (chunk, ..., L) per recorded output
            (:func:`envs.engine.records.recorded_outputs`).
        delayed: the run had delayed feedback (its ``delay`` output is recorded).

    Returns:
        ``{name: (G, S, T, ...)}``, the log row split into its fields
        (:func:`envs.engine.records.unpack_log_rows`); ``None`` for ``record="curves"``.
    """
    if record == "curves":
        return None
    trajectories = {}
    for i, name in enumerate(recorded_outputs(record, delayed)):
        values = per_seed(np.concatenate([c[i] for c in chunks]), lanes)
        if name == "log_row":
            trajectories.update(unpack_log_rows(values, n_arms, dim))
        else:
            trajectories[name] = values
    return trajectories
