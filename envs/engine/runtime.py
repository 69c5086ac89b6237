"""Process-level JAX set-up for fast simulation on CPU hosts.

One ``lax.scan`` runs on about one core, so the rollout engine splits simulations
across XLA host devices, one per core. The number of host devices and XLA's CPU flags
are read when JAX first starts its backend, so :func:`configure_host` must run before
the first computation; importing :mod:`envs` calls it with the defaults.

Set ``BANDAX_HOST_DEVICES`` to choose the device count (``1`` disables the split) and
``BANDAX_NO_XLA_FLAGS=1`` to leave ``XLA_FLAGS`` alone entirely.
"""

from __future__ import annotations

import os
import warnings

# YNNPACK fusions (default in jaxlib 0.10) made the small reductions of a bandit round
# 3–9× slower on CPU; an empty fusion-type list turns them off.
_YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="
_DEVICES = "--xla_force_host_platform_device_count"


def configure_host(n_devices: int | None = None) -> None:
    """Sets ``XLA_FLAGS`` for CPU simulation unless the user has already chosen them."""
    if os.environ.get("BANDAX_NO_XLA_FLAGS"):
        return
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        if n_devices is not None:
            warnings.warn("JAX already started; configure_host() came too late to "
                          "change the number of host devices", stacklevel=2)
        return
    if n_devices is None:
        n_devices = int(os.environ.get("BANDAX_HOST_DEVICES", os.cpu_count() or 1))
    flags = os.environ.get("XLA_FLAGS", "")
    extra = []
    if "ynn_fusion_type" not in flags:
        extra.append(_YNN_OFF)
    if _DEVICES not in flags and n_devices > 1:
        extra.append(f"{_DEVICES}={n_devices}")
    if extra:
        os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()


def unroll_threefry_on_cpu() -> None:
    """Lowers ``jax.random``'s Threefry hash to straight-line code on CPU.

    JAX lowers Threefry-2x32 on CPU as a rolled loop over its five groups of rounds
    (smaller programs), which streams every intermediate through memory; the unrolled
    lowering it uses on other platforms generates the same bits 3× faster here. Random
    numbers are unchanged bit for bit. Set ``BANDAX_ROLLED_THREEFRY=1`` to keep JAX's
    default.
    """
    if os.environ.get("BANDAX_ROLLED_THREEFRY"):
        return
    from functools import partial

    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as tf

    mlir.register_lowering(
        tf.threefry2x32_p,
        mlir.lower_fun(partial(tf._threefry2x32_lowering, use_rolled_loops=False),
                       multiple_results=True),
        platform="cpu")


def enable_compilation_cache(path: str | None = None) -> str:
    """Turns on JAX's persistent compilation cache so a repeated study skips compiling."""
    import jax

    path = path or os.environ.get(
        "BANDAX_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "bandax", "jax"))
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
