"""The candidates of a streamed log: checkpoints are loaded; algorithms are trained on the
rows before the held-out period, read a batch at a time in file order, each batch folded
into the policy's state (:func:`bandits.train.train` continues from a state), so
training is bounded in memory too. Training is sequential by nature and runs in the
driving process.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.data.events.dataset import Dataset, stream_events


class _Trainee:
    """One algorithm being trained on streamed batches."""

    def __init__(self, spec: Mapping[str, Any], data: Dataset):
        self.spec, self.data = spec, data
        self.policy = self.state = None
        self.hash = hashlib.sha256()
        self.rows = 0

    def hyper(self) -> dict[str, Any]:
        from bandits.registry import spec as family

        hyper = dict(self.spec.get("params") or {})
        if "arm_features" in family(self.spec["algorithm"]).static and \
                hyper.get("arm_features") is None:
            hyper["arm_features"] = self.data.arm_features
        return hyper

    def fold(self, context, action, reward) -> None:
        """Trains on one batch of rows (in time order)."""
        from bandits.registry import make
        from bandits.train import train

        if self.policy is None:
            self.policy = make(self.spec["algorithm"], self.data.n_arms, context.shape[1],
                               **self.hyper())
        self.state = train(self.policy, self.policy.default_params, context, action,
                           reward, state=self.state)
        for x in (context, action, reward):
            self.hash.update(np.ascontiguousarray(x).tobytes())
        self.rows += len(action)

    def checkpoint(self):
        from bandits.checkpoints import Checkpoint

        if self.policy is None:
            raise ValueError(f"candidate {self.spec['name']}: no rows before the held-out "
                             "period to train on (split.held_out_from is at or before the "
                             "first row)")
        digest = self.hash.hexdigest()
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        return Checkpoint(self.spec["algorithm"], self.hyper(), self.data.n_arms,
                          self.policy.dim, self.policy.default_params, self.state, digest,
                          self.spec.get("version") or f"{self.spec['algorithm']}-"
                          f"{digest[:12]}", now, self.rows, {"trained_on": "streamed batches"})


def train_streamed(specs: Sequence[Mapping[str, Any]], data: Dataset,
                   held_out_from: np.datetime64, batch_rows: int,
                   missing_reward: float | None) -> list:
    """Checkpoints of the algorithm candidates ``specs``, all trained in one pass over
    the rows before ``held_out_from`` (files whose statistics say they hold none are not
    read). The data hash is SHA-256 over the training
    batches' context, action and reward bytes."""
    trainees = [_Trainee(s, data) for s in specs]
    if not trainees:
        return []
    for _, log in stream_events(data, data.files_before(held_out_from),
                                batch_rows=batch_rows, missing_reward=missing_reward):
        train = np.flatnonzero(log.timestamp < held_out_from)
        if train.size == 0:
            continue
        rows = log.data.take(train)
        for t in trainees:
            t.fold(np.asarray(rows.context), np.asarray(rows.action),
                   np.asarray(rows.reward))
    return [t.checkpoint() for t in trainees]


def load_candidates(specs: Sequence[Mapping[str, Any]], data: Dataset,
                    held_out_from: np.datetime64, batch_rows: int,
                    missing_reward: float | None, out_dir: str | None
                    ) -> list[tuple[str, Any, str]]:
    """``(name, checkpoint, where it came from)`` for every candidate, in order; trained
    ones are saved as ``<out_dir>/<name>.npz`` when ``out_dir`` is given."""
    import os

    from bandits.checkpoints import load_checkpoint, save_checkpoint

    trained = iter(train_streamed([s for s in specs if not s.get("checkpoint")], data,
                                  held_out_from, batch_rows, missing_reward))
    out = []
    for s in specs:
        if s.get("checkpoint"):
            out.append((s["name"], load_checkpoint(s["checkpoint"], n_arms=data.n_arms),
                        f"checkpoint {s['checkpoint']}"))
            continue
        ck = next(trained)
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            save_checkpoint(os.path.join(out_dir, f"{s['name']}.npz"), ck)
        out.append((s["name"], ck, f"trained on {ck.n_train_rows:,} streamed rows"))
    return out
