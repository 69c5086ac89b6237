"""What leaves the device for each ``record`` setting, the log row's packing, and the
checks on :class:`EngineOptions` and :func:`simulate`'s arguments."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs
from envs.engine import EngineOptions, simulate
from envs.engine.records import (
    LOG_ROW_FIELDS,
    RECORDS,
    log_row_width,
    pack_log_row,
    recorded_floats,
    unpack_log_rows,
)

K, D = 4, 3


def _log_fields(rng, lead=()):
    return {"context": rng.standard_normal(lead + (D,)).astype(np.float32),
            "mask": rng.random(lead + (K,)) < 0.6,
            "action_dist": rng.dirichlet(np.ones(K), lead).astype(np.float32),
            "expected_reward": rng.standard_normal(lead + (K,)).astype(np.float32)}


def test_log_rows_pack_and_unpack_round_trip():
    fields = _log_fields(np.random.default_rng(0), (2, 5))
    pack = jax.vmap(jax.vmap(lambda c, m, p, mu: pack_log_row(
        context=c, mask=m, action_dist=p, expected_reward=mu)))
    rows = np.asarray(pack(*(fields[f.name] for f in LOG_ROW_FIELDS)))
    assert rows.shape == (2, 5, log_row_width(K, D)) and rows.dtype == np.float32
    back = unpack_log_rows(rows, K, D)
    assert list(back) == [f.name for f in LOG_ROW_FIELDS]
    for name, want in fields.items():
        assert back[name].dtype == (bool if name == "mask" else np.float32), name
        np.testing.assert_array_equal(back[name], want, err_msg=name)


def test_log_row_checks_its_fields_and_width():
    f = {k: jnp.asarray(v) for k, v in _log_fields(np.random.default_rng(1)).items()}
    with pytest.raises(ValueError, match="a log row holds context, mask"):
        pack_log_row(context=f["context"], mask=f["mask"], action_dist=f["action_dist"])
    with pytest.raises(ValueError, match=r"hold 15 floats, got rows of shape \(2, 14\)"):
        unpack_log_rows(np.zeros((2, 14), np.float32), K, D)


def test_recorded_floats_follow_the_declared_outputs():
    assert log_row_width(K, D) == D + 3 * K
    assert recorded_floats("curves", K, D) == 0
    assert recorded_floats("trajectories", K, D) == 4
    assert recorded_floats("logs", K, D) == D + 3 * K + 4


@pytest.fixture(scope="module")
def world():
    return envs.make("linear-gaussian", n_arms=K, dim=D, p_eligible=0.7)


def test_each_record_returns_what_it_declares(world):
    policy = bandits.make("lin_eps_greedy", K, D)
    runs = {record: simulate(policy, world, n_rounds=24, n_seeds=3, record=record)
            for record in RECORDS}
    assert runs["curves"].trajectories is None
    scalars = {"action": np.int32, "reward": np.float32, "propensity": np.float32,
               "regret": np.float32}
    assert set(runs["trajectories"].trajectories) == set(scalars)
    logs = runs["logs"].trajectories
    assert set(logs) == set(scalars) | {f.name for f in LOG_ROW_FIELDS}
    for name, dtype in scalars.items():
        for record in ("trajectories", "logs"):
            got = runs[record].trajectories[name]
            assert got.shape == (1, 3, 24) and got.dtype == dtype, (record, name)
        np.testing.assert_array_equal(logs[name], runs["trajectories"].trajectories[name])
    for f in LOG_ROW_FIELDS:
        size = D if f.size == "d" else K
        assert logs[f.name].shape == (1, 3, 24, size), f.name
        assert logs[f.name].dtype == (bool if f.is_mask else np.float32), f.name
    for record in RECORDS:  # the curves never depend on what else is recorded
        np.testing.assert_array_equal(runs[record].seed_regret, runs["curves"].seed_regret)


@pytest.mark.parametrize("kwargs, message", [
    ({"chunk_rounds": 0}, r"EngineOptions.chunk_rounds must be an integer in \[1, inf\], "
                          r"got 0"),
    ({"block_rounds": 2.5}, r"EngineOptions.block_rounds must be an integer in \[1, inf\], "
                            r"got 2.5"),
    ({"layout": "rows"}, "EngineOptions.layout must be one of 'lanes', 'vmap', got 'rows'"),
    ({"devices": []}, "EngineOptions.devices must hold at least one device"),
    ({"devices": "cpu"}, "EngineOptions.devices must be a sequence of devices or None, "
                         "got 'cpu'"),
    ({"group_lanes": True}, r"EngineOptions.group_lanes must be an integer in \[1, inf\], "
                            r"got True"),
])
def test_engine_options_name_the_bad_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineOptions(**kwargs)


def test_engine_options_are_frozen_values():
    options = EngineOptions(devices=jax.devices()[:1], chunk_rounds=np.int64(8))
    assert options.devices == tuple(jax.devices()[:1]) and type(options.chunk_rounds) is int
    assert options == EngineOptions(devices=tuple(jax.devices()[:1]), chunk_rounds=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.layout = "vmap"


def test_simulate_checks_record_options_and_first_seed(world):
    policy = bandits.make("lin_eps_greedy", K, D)
    with pytest.raises(ValueError, match="record must be one of curves, trajectories, logs, "
                                         "got 'frames'"):
        simulate(policy, world, n_rounds=10, n_seeds=1, record="frames")
    with pytest.raises(ValueError, match="options must be an EngineOptions or None"):
        simulate(policy, world, n_rounds=10, n_seeds=1, options={"layout": "vmap"})
    with pytest.raises(ValueError, match="first_seed"):
        simulate(policy, world, n_rounds=10, n_seeds=1, first_seed=-1)
