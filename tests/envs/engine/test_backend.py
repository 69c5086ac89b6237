"""The sizes the engine and the bootstrap choose from the backend: CPU keeps the sizes
measured for CPU caches; an accelerator's follow its memory."""

import jax
import numpy as np

import envs
from bandits import make
from envs.engine import EngineOptions, backend, simulate
from envs.engine.plan import make_plan

GIB = 2**30


def test_cpu_keeps_the_cache_sized_defaults():
    cpu = backend.backend_of(jax.local_devices())
    assert cpu == backend.Backend("cpu") and not cpu.accelerator
    assert backend.group_lanes(cpu) == 64
    assert backend.block_lane_rounds(cpu) == 2**17
    assert backend.chunk_floats(cpu) == 2**24
    assert backend.bootstrap_batch(cpu, 10**6) == 10


def test_an_accelerator_sizes_follow_its_memory():
    h200 = backend.Backend("gpu", 140 * GIB)
    assert backend.group_lanes(h200) == backend.UNGROUPED
    assert backend.block_lane_rounds(h200) == 140 * GIB // 1024
    assert backend.chunk_floats(h200) == 140 * GIB // 256
    # counts and products of 16 bytes a row-resample in 1/32 of memory, within [10, 1000]
    assert backend.bootstrap_batch(h200, 10**6) == 140 * GIB // 32 // (16 * 10**6)
    assert backend.bootstrap_batch(h200, 10**4) == 1000
    assert backend.bootstrap_batch(h200, 10**9) == 10
    unknown = backend.Backend("gpu")
    assert backend.chunk_floats(unknown) == backend.FALLBACK_MEMORY // 256


def test_the_plan_follows_the_budgets_it_is_given():
    big = make_plan(2000, 10**5, record=4, n_lanes=10**5, lane_rounds=2**27,
                    output_floats=2**32)
    small = make_plan(2000, 10**5, record=4, n_lanes=10**5)
    assert big.chunk > small.chunk  # a chunk of the larger budget records more rounds
    assert big.block >= small.block


def test_group_size_does_not_change_the_numbers():
    env = envs.make("linear-gaussian", n_arms=4, dim=3)
    policy = make("lin_ucb", 4, 3)
    runs = [simulate(policy, env, n_rounds=64, n_seeds=40, seed=2,
                     options=EngineOptions(group_lanes=g)) for g in (None, 8, 10**6)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.seed_regret, runs[0].seed_regret)
        np.testing.assert_array_equal(r.total_reward, runs[0].total_reward)
