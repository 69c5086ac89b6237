"""The sizes the engine and the bootstrap choose by default, from the backend they run on.

On CPU the sizes are those measured on CPU hosts: lanes advance in groups of 64 so each
group's state stays in a core's L2 cache, a block draws about 2^17 lane-rounds of random
numbers per device (they stay in cache), a chunk records at most 2^24 floats, and the
bootstrap computes 10 resamples per batch. An accelerator has no such cache to fit and
many more threads to fill, so there every lane of a device advances together and blocks,
chunks and bootstrap batches grow with the device's memory: a block's random numbers
take at most 1/64 of it, a chunk's records 1/64, a bootstrap batch's counts 1/32.

None of these sizes changes a number a run produces (random numbers are keyed by seed,
round and resample), only how the work is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

CPU_GROUP_LANES = 64
CPU_BLOCK_LANE_ROUNDS = 2**17
CPU_CHUNK_FLOATS = 2**24
CPU_BOOTSTRAP_BATCH = 10
FALLBACK_MEMORY = 16 * 2**30  # an accelerator that does not report its memory
UNGROUPED = 2**31 - 1  # group_lanes that puts every lane of a device in one group


@dataclass(frozen=True)
class Backend:
    """Where a run's computations go: the devices' platform (``"cpu"``, ``"gpu"``,
    ``"tpu"``) and, on an accelerator, the memory of one device in bytes (None when the
    device does not say)."""

    platform: str
    memory_bytes: int | None = None

    @property
    def accelerator(self) -> bool:
        return self.platform != "cpu"

    @property
    def memory(self) -> int:
        """The device memory the sizes follow (:data:`FALLBACK_MEMORY` when unknown)."""
        return self.memory_bytes or FALLBACK_MEMORY


def backend_of(devices) -> Backend:
    """The :class:`Backend` of a run on ``devices`` (a sequence of JAX devices)."""
    device = list(devices)[0]
    if device.platform == "cpu":
        return Backend("cpu")
    try:
        stats = device.memory_stats() or {}
    except Exception:  # a backend without memory statistics
        stats = {}
    limit = stats.get("bytes_limit")
    return Backend(device.platform, int(limit) if limit else None)


def group_lanes(backend: Backend) -> int:
    """Lanes of a device that advance together."""
    return UNGROUPED if backend.accelerator else CPU_GROUP_LANES


def block_lane_rounds(backend: Backend) -> int:
    """Lane-rounds of random numbers a block draws per device (4 bytes each, a few per
    lane-round)."""
    if not backend.accelerator:
        return CPU_BLOCK_LANE_ROUNDS
    return max(CPU_BLOCK_LANE_ROUNDS, backend.memory // 64 // 16)


def chunk_floats(backend: Backend) -> int:
    """Floats of recorded output a chunk holds at most (over every lane)."""
    if not backend.accelerator:
        return CPU_CHUNK_FLOATS
    return max(CPU_CHUNK_FLOATS, backend.memory // 64 // 4)


def bootstrap_batch(backend: Backend, n_rows: int) -> int:
    """Resamples per batch of the bootstrap of ``n_rows`` rows: 10 on CPU; on an
    accelerator as many as fit their float32 counts and products (about 16 bytes per
    row and resample) in 1/32 of the device's memory, between 10 and 1,000."""
    if not backend.accelerator:
        return CPU_BOOTSTRAP_BATCH
    fit = backend.memory // 32 // (16 * max(n_rows, 1))
    return int(min(1000, max(CPU_BOOTSTRAP_BATCH, fit)))
