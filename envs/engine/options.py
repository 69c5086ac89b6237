"""The engine's knobs: how rounds are cut into blocks and chunks, where the lane axis lives
and how lanes are spread over devices. None of them changes a number a rollout produces.

Plain Python (no JAX), so :class:`EngineOptions` can be built and checked before JAX
starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.validation import check_int

LAYOUTS = ("lanes", "vmap")


@dataclass(frozen=True)
class EngineOptions:
    """How :func:`envs.engine.simulate` runs; the defaults suit any study.

    Attributes:
        chunk_rounds: rounds per call of the compiled chunk program (rounded down to a
            divisor of the horizon made of whole blocks); ``None`` chooses it
            (:func:`envs.engine.plan.make_plan`).
        block_rounds: rounds whose random numbers are drawn together (rounded down to a
            divisor of the horizon); ``None`` chooses it.
        layout: ``"lanes"`` (simulations on the last array axis, fast) or ``"vmap"``
            (``jax.vmap``'s layout, for comparison).
        devices: the devices to split the lanes over; ``None`` for all local devices.
        group_lanes: at most this many lanes of a device advance together; a device's
            lanes are processed in groups so each group's state stays in the core's L2
            cache (LinUCB's state is ~2.2 KB a lane at K=5, d=10). ``None`` chooses by
            backend (:mod:`envs.engine.backend`: 64 on CPU, every lane on an
            accelerator).
    """

    chunk_rounds: int | None = None
    block_rounds: int | None = None
    layout: str = "lanes"
    devices: Sequence[Any] | None = None
    group_lanes: int | None = None

    def __post_init__(self) -> None:
        for name in ("chunk_rounds", "block_rounds"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_int(f"EngineOptions.{name}", value))
        if self.layout not in LAYOUTS:
            raise ValueError(f"EngineOptions.layout must be one of "
                             f"{', '.join(map(repr, LAYOUTS))}, got {self.layout!r}")
        if self.devices is not None:
            if isinstance(self.devices, (str, bytes)) or not isinstance(self.devices, Sequence):
                raise ValueError(f"EngineOptions.devices must be a sequence of devices or "
                                 f"None, got {self.devices!r}")
            if len(self.devices) == 0:
                raise ValueError("EngineOptions.devices must hold at least one device, "
                                 "got an empty sequence")
            object.__setattr__(self, "devices", tuple(self.devices))
        if self.group_lanes is not None:
            object.__setattr__(self, "group_lanes",
                               check_int("EngineOptions.group_lanes", self.group_lanes))
