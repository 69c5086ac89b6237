"""The gate on a streamed log: one Parquet file and the same rows split into daily
partitions give the same report, here and on Dask workers; the streamed estimates equal
the in-memory estimators on the same rows; every piece (estimators as sums, the keyed
bootstrap, the streamed ridge) against its in-memory reference."""

import jax
import numpy as np
import pyarrow.parquet as pq
import pytest

import envs
from bandits.checkpoints import load_checkpoint, save_checkpoint
from bandits.train import train_checkpoint
from common.errors import ConfigError, DataError
from envs.data.events import read_events, write_events, write_partitioned
from envs.data.events.dataset import open_dataset
from envs.data.generate import simulate_deployment
from envs.data.logged import events_from_logged
from estimators import ope, registry, reward_models
from estimators.bootstrap.keyed import event_hash, event_keys, keyed_folds, keyed_poisson_counts
from estimators.gate import run_from_config
from estimators.gate.driver import parse_candidates
from estimators.gate.statistics import decision_probs, evaluate_candidate
from estimators.partitioned import parts, ridge
from estimators.partitioned.driver import run_partitioned
from estimators.partitioned.tasks import Plan, ridge_file

N, K, DIM = 6000, 4, 3
CUT = np.datetime64("2026-01-03T12:00:00", "us")  # 60 s apart: rows 3600.. held out
ESTIMATORS = ["dr", "ipw", "snipw", "dm", "sndr"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    env = envs.make("logistic-bernoulli", n_arms=K, dim=DIM, base_logit=-1.0, scale=2.0)
    data, meta = simulate_deployment(env, N, logging="softmax", temperature=1.0, seed=3)
    cols = events_from_logged(data, policy_version="v0", algorithm=meta["algorithm"],
                              exploration=meta["exploration"],
                              start=np.datetime64("2026-01-01T00:00:00", "us"),
                              interval_s=60.0)
    root = tmp_path_factory.mktemp("partitioned")
    single = root / "log.parquet"
    write_events(str(single), cols, batch_rows=1000)
    files = write_partitioned(root / "by_day", cols, batch_rows=700)
    return {"single": str(single), "dir": str(root / "by_day"), "files": files,
            "cols": cols, "root": root}


def _numbers(x, path=""):
    """Every number of a report, by its path (provenance and timings left out)."""
    skip = ("source", "stream", "data_hash", "version", "created_at")
    if isinstance(x, dict):
        for k, v in x.items():
            if k not in skip:
                yield from _numbers(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, float(x)


def _run(path, candidates, **kw):
    return run_partitioned(open_dataset(path), candidates, held_out_from=CUT,
                           estimators=ESTIMATORS, n_boot=200, batch_rows=kw.pop("rows", 512),
                           **kw)


@pytest.fixture(scope="module")
def candidates(logs):
    """A checkpoint trained in memory and an algorithm trained on the streamed rows."""
    log = read_events(logs["single"])
    train = np.flatnonzero(log.timestamp < CUT)
    ck = train_checkpoint("lin_ucb", {"alpha": 1.0}, log.data.context[train],
                          log.data.action[train], log.data.reward[train], n_arms=K)
    path = logs["root"] / "lin_ucb.npz"
    save_checkpoint(str(path), ck)
    return parse_candidates([str(path), "eps_greedy"], {"eps_greedy": {"epsilon": 0.2}})


@pytest.fixture(scope="module")
def reports(logs, candidates):
    return {"single": _run(logs["single"], candidates, rows=1000),
            "dir": _run(logs["dir"], candidates)}


def test_partitions_give_the_single_file_numbers(reports):
    single, split = dict(_numbers(reports["single"])), dict(_numbers(reports["dir"]))
    assert single.keys() == split.keys()
    assert len(single) > 80
    for k in single:  # float64 sums in another order
        assert split[k] == pytest.approx(single[k], rel=1e-9, abs=1e-12), k
    assert reports["dir"]["data"]["stream"]["files"] == 5
    assert reports["dir"]["data"]["test_rows"] == N - 3600


def test_each_pass_reads_the_files_that_hold_its_rows(logs):
    data = open_dataset(logs["dir"])  # days 1..5, the cut at noon of day 3
    assert data.time_ranges[2] == (np.datetime64("2026-01-03T00:00:00", "us"),
                                   np.datetime64("2026-01-03T23:59:00", "us"))
    assert data.files_from(CUT) == data.files[2:]
    assert data.files_before(CUT) == data.files[:3]
    assert open_dataset(logs["single"]).files_from(CUT) == (logs["single"],)


def test_dask_workers_give_the_same_numbers(logs, candidates, reports):
    pytest.importorskip("distributed", reason="Dask is the extra dask (in dev)")
    on_workers = _run(logs["dir"], candidates, workers=2)
    assert dict(_numbers(on_workers)) == dict(_numbers(reports["dir"]))
    assert on_workers["data"]["stream"]["engine"] == "dask"


def _in_memory_q(log, held, spec):
    """The cross-fitted ridge of the in-memory reward model, on the keyed folds."""
    keys = event_keys(log.event_id[held])
    folds = keyed_folds(keys, 0, spec.n_folds)
    model = reward_models.ridge(K, reg=spec.reg)
    x = log.data.context[held]
    q = np.zeros((len(held), K), np.float32)
    for f in range(spec.n_folds):
        theta = model.fit(None, x, log.data.action[held], log.data.reward[held],
                          (folds != f).astype(np.float32))
        q[folds == f] = np.asarray(model.predict(theta, x))[folds == f]
    return q


def test_streamed_estimates_equal_the_in_memory_estimators(logs, candidates, reports):
    log = read_events(logs["single"])
    held = np.flatnonzero(log.timestamp >= CUT)
    test = log.data.take(held)
    spec = ridge.ridge_spec(None, K, 0)
    q = _in_memory_q(log, held, spec)
    streamed_q = ridge.predict(spec, _theta(logs, spec), test.context,
                               event_keys(log.event_id[held]), 0)
    np.testing.assert_allclose(streamed_q, q, atol=2e-5)
    ck_path = candidates[0]["checkpoint"]

    ck = load_checkpoint(ck_path)
    probs = decision_probs(ck.policy(), ck.params, ck.state, test.context, test.mask,
                           jax.random.key(0))
    ref = evaluate_candidate(test, probs, q, key=jax.random.key(0), estimators=ESTIMATORS,
                             n_boot=1000)
    got = reports["dir"]["candidates"][0]
    for name in ESTIMATORS:
        assert got["estimates"][name]["value"] == pytest.approx(
            ref["estimates"][name]["value"], rel=2e-5), name
        # the keyed Poisson bootstrap's spread is the multinomial one's: 200 and 1000
        # resamples estimate a standard error to ±5% and ±2.2% (1 sd)
        assert got["estimates"][name]["std_error"] == pytest.approx(
            ref["estimates"][name]["std_error"], rel=0.2), name
    for k in ("ess", "max_weight", "nonzero_fraction", "support_violation", "n_rows"):
        assert got["diagnostics"][k] == pytest.approx(ref["diagnostics"][k], rel=1e-5), k
    assert got["logging_value"]["value"] == pytest.approx(ref["logging_value"]["value"],
                                                          rel=1e-6)


def _theta(logs, spec):
    """The streamed ridge's per-fold coefficients on the held-out rows."""
    data = open_dataset(logs["dir"])
    plan = Plan(data, CUT, 512, None, 0, 10, {}, spec)
    sums = [ridge_file(plan, f) for f in data.files]
    return ridge.solve(spec, sum(g for g, _ in sums), sum(r for _, r in sums))


@pytest.mark.parametrize("name", registry.names())
def test_every_estimator_is_a_ratio_of_sums(name):
    rng = np.random.default_rng(1)
    n = 400
    action = rng.integers(0, K, n)
    target = rng.dirichlet(np.ones(K), n).astype(np.float32)
    target[:40] = np.eye(K)[action[:40]]  # some deterministic rows, for replay
    rows = ope.rows(rng.normal(size=n).astype(np.float32), action,
                    rng.uniform(0.05, 1, n).astype(np.float32), target,
                    rng.normal(size=(n, K)).astype(np.float32))
    hyper = registry.hyperparameters(name)
    cols, layout = parts.columns({name: hyper}, rows)
    counts = rng.poisson(1.0, (3, n)).astype(np.float64)
    got = parts.values(counts @ np.asarray(cols, np.float64), layout)
    assert layout == parts.layout({name: hyper})
    for b in range(3):
        ref = registry.bind(name, **hyper)(rows._replace(count=np.float32(counts[b])))
        assert got[b, 0] == pytest.approx(float(ref.value), rel=1e-5, abs=1e-6)
        assert got[b, 1] == pytest.approx(counts[b] @ np.asarray(rows.reward) / counts[b].sum())


def test_event_hash_is_fnv1a_of_the_bytes_only():
    # FNV-1a 64 of "a" and of "" (the offset basis), whatever the array's width
    assert event_hash(np.array([b"a", b""], "S1")).tolist() == [0xAF63DC4C8601EC8C,
                                                                0xCBF29CE484222325]
    ids = np.array([b"ev1", b"event-22", b"x"])
    np.testing.assert_array_equal(event_hash(ids), event_hash(ids.astype("S40")))


def test_keyed_counts_depend_on_the_event_alone():
    ids = np.char.add(b"e", np.arange(5000).astype("S6"))
    keys = event_keys(ids)
    counts = np.asarray(keyed_poisson_counts(keys, seed=7, n_boot=40))
    perm = np.random.default_rng(0).permutation(5000)[:1234]
    again = np.asarray(keyed_poisson_counts(keys[perm], seed=7, n_boot=40))
    np.testing.assert_array_equal(again, counts[:, perm])
    other = np.asarray(keyed_poisson_counts(keys, seed=8, n_boot=40))
    assert np.mean(other != counts) > 0.5
    # Poisson(1): mean 1, variance 1, P(0) = e⁻¹; 2·10⁵ draws give sd ≤ 0.004
    c = counts.astype(np.float64)
    assert abs(c.mean() - 1) < 0.015 and abs(c.var() - 1) < 0.03
    assert abs(np.mean(c == 0) - np.exp(-1)) < 0.01
    odd = np.asarray(keyed_poisson_counts(keys, seed=7, n_boot=41))
    np.testing.assert_array_equal(odd[:40], counts)


def test_streamed_ridge_shared_matches_the_in_memory_fit():
    rng = np.random.default_rng(2)
    n, d = 900, 2
    x = rng.normal(size=(n, K * d)).astype(np.float32)
    a = rng.integers(0, K, n)
    r = rng.normal(size=n).astype(np.float32)
    keys = event_keys(np.char.add(b"r", np.arange(n).astype("S4")))
    spec = ridge.ridge_spec({"name": "ridge_shared", "n_folds": 3}, K, d)
    halves = [ridge.batch_sums(spec, x[s], a[s], r[s], keys[s], 5)
              for s in (slice(0, 400), slice(400, n))]
    theta = ridge.solve(spec, halves[0][0] + halves[1][0], halves[0][1] + halves[1][1])
    got = ridge.predict(spec, theta, x, keys, 5)
    model = reward_models.ridge_shared(K, arm_features=d)
    folds = keyed_folds(keys, 5, 3)
    for f in range(3):
        fit = model.fit(None, x, a, r, (folds != f).astype(np.float32))
        ref = np.asarray(model.predict(fit, x))
        np.testing.assert_allclose(got[folds == f], ref[folds == f], atol=2e-5)


def test_the_config_streams_a_directory_and_splits_a_file_alike(logs, tmp_path):
    base = {"candidate": "eps_greedy", "estimator": ["ipw", "dm"],
            "evaluation": {"n_boot": 50}, "gate": {"decide_on": "ipw"},
            "split": {"held_out_from": str(CUT)}, "stream": {"batch_rows": 800}}
    streamed = run_from_config({**base, "data": logs["dir"]}, out_dir=str(tmp_path),
                               echo=False)
    assert (tmp_path / "report.md").read_text().count("streamed: 5 files") == 1
    in_memory = run_from_config({**base, "data": logs["single"]}, echo=False)
    assert in_memory["data"]["test_rows"] == streamed["data"]["test_rows"] == N - 3600
    assert in_memory["bootstrap"] == "multinomial"
    assert streamed["bootstrap"].startswith("keyed Poisson")


@pytest.mark.parametrize("setting, message", [
    ({"split": {}}, "give split.held_out_from"),
    ({"reward_model": {"name": "mlp"}}, "needs every row in memory"),
    ({"load": {"on_invalid": "reject", "rejects_path": "r.parquet"}}, "needs the whole file"),
    ({"evaluation": {"bootstrap": "multinomial"}}, "keyed by event id"),
    ({"stream": {"workers": -1}}, "stream.workers"),
    ({"stream": {"batchrows": 5}}, "stream has no key 'batchrows'"),
    ({"stream": {"enabled": True}, "data": "obd"}, "data=obd .* is read in memory"),
])
def test_settings_a_stream_cannot_take_are_refused(logs, setting, message):
    cfg = {"data": logs["dir"], "candidate": "eps_greedy",
           "split": {"held_out_from": str(CUT)}, **setting}
    with pytest.raises(ValueError, match=message):  # a ConfigError, or a range's message
        run_from_config(cfg, echo=False)


def test_a_bad_row_is_named_by_its_file_and_row(logs, tmp_path):
    cols = dict(logs["cols"])
    cols["propensity"] = cols["propensity"].copy()
    cols["propensity"][1500] = 0.0
    path = tmp_path / "bad.parquet"
    write_events(str(path), cols)
    with pytest.raises(DataError, match=r"bad\.parquet.*row 1500 "):
        _run(str(path), parse_candidates("eps_greedy", {}))


def test_files_must_agree_and_declare_the_arms(logs, tmp_path):
    table = pq.read_table(logs["files"][0])
    bare = tmp_path / "bare"
    bare.mkdir()
    pq.write_table(table.replace_schema_metadata(None), bare / "a.parquet")
    with pytest.raises(ConfigError, match="load.n_arms=K"):
        open_dataset(bare)
    assert open_dataset(bare, n_arms=K).n_arms == K
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(table, mixed / "a.parquet")  # declares 4
    pq.write_table(table.replace_schema_metadata({b"bandax.n_arms": b"9"}), mixed / "b.parquet")
    with pytest.raises(DataError, match="disagree on bandax.n_arms: .*a.parquet declares 4"):
        open_dataset(mixed)
