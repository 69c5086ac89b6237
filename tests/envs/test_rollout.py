"""The rollout engine: reproducibility, layouts, grids, bookkeeping and regret rates."""

import jax
import numpy as np
import pytest

import bandits
import envs
from envs.rollout import log_checkpoints, make_plan, simulate


@pytest.fixture(scope="module")
def world():
    return envs.make("linear-gaussian", n_arms=5, dim=10, p_eligible=0.7)


@pytest.fixture(scope="module")
def reference(world):
    policy = bandits.make("lin_ucb", 5, 10)
    return simulate(policy, world, n_rounds=120, n_seeds=6, record_trajectories=True)


def test_seed_results_do_not_depend_on_batch(world, reference):
    policy = bandits.make("lin_ucb", 5, 10)
    solo = simulate(policy, world, n_rounds=120, n_seeds=1, record_trajectories=True,
                    devices=jax.devices()[:1])
    tr, ts = reference.trajectories, solo.trajectories
    np.testing.assert_array_equal(tr["action"][:, :1], ts["action"])
    np.testing.assert_allclose(tr["regret"][:, :1], ts["regret"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reference.final_regret[:, :1], solo.final_regret, rtol=1e-5)


def test_plan_and_layout_do_not_change_numbers(world, reference):
    policy = bandits.make("lin_ucb", 5, 10)
    other = simulate(policy, world, n_rounds=120, n_seeds=6, record_trajectories=True,
                     block_rounds=7, chunk_rounds=30, layout="vmap")
    assert other.plan.block != reference.plan.block
    np.testing.assert_array_equal(other.trajectories["action"],
                                  reference.trajectories["action"])
    np.testing.assert_allclose(other.final_regret, reference.final_regret, rtol=1e-5)
    # lanes advanced in groups of one per device, in both layouts
    for layout in ("lanes", "vmap"):
        grouped = simulate(policy, world, n_rounds=120, n_seeds=6, record_trajectories=True,
                           group_lanes=1, layout=layout)
        np.testing.assert_array_equal(grouped.trajectories["action"],
                                      reference.trajectories["action"])
        np.testing.assert_allclose(grouped.seed_regret, reference.seed_regret, rtol=1e-5)


def test_same_config_same_numbers(world, reference):
    again = simulate(bandits.make("lin_ucb", 5, 10), world, n_rounds=120, n_seeds=6,
                     record_trajectories=True)
    np.testing.assert_array_equal(again.trajectories["action"],
                                  reference.trajectories["action"])
    np.testing.assert_array_equal(again.seed_regret, reference.seed_regret)
    different = simulate(bandits.make("lin_ucb", 5, 10), world, n_rounds=120, n_seeds=6,
                         seed=1)
    assert not np.allclose(different.final_regret, reference.final_regret)


def test_curves_agree_with_trajectories(reference):
    r = reference
    cum = np.cumsum(r.trajectories["regret"].astype(np.float64), axis=-1)
    np.testing.assert_allclose(r.mean_regret, cum.mean(axis=1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(r.std_regret, cum.std(axis=1, ddof=1), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(r.seed_regret, cum[..., r.checkpoints - 1], rtol=1e-4)
    np.testing.assert_allclose(r.total_reward, r.trajectories["reward"].sum(-1), rtol=1e-4)
    # a greedy policy's propensity is 1 unless tied, and never 0 for the chosen arm
    assert (r.trajectories["propensity"] > 0).all()
    assert (r.trajectories["regret"] >= -1e-6).all()


def test_grid_point_equals_standalone_run(world):
    policy = bandits.make("lin_ucb", 5, 10)
    grid = policy.default_params._replace(alpha=np.array([0.0, 0.5, 2.0]))
    swept = simulate(policy, world, n_rounds=80, n_seeds=4, policy_params=grid)
    single = simulate(bandits.make("lin_ucb", 5, 10, alpha=2.0), world, n_rounds=80,
                      n_seeds=4)
    np.testing.assert_allclose(swept.final_regret[2], single.final_regret[0], rtol=1e-5)
    np.testing.assert_allclose(swept.grid["alpha"], [0.0, 0.5, 2.0])
    assert not np.allclose(swept.final_regret[0], swept.final_regret[2])


def test_masked_arms_are_never_played():
    world = envs.make("linear-gaussian", n_arms=6, dim=4, p_eligible=0.3)
    for name in ("uniform", "eps_greedy", "lin_ts"):
        policy = bandits.make(name, 6, 4)
        r = simulate(policy, world, n_rounds=50, n_seeds=8, record_trajectories=True)
        # regret is measured against the best *eligible* arm, so the oracle bound holds
        assert (r.trajectories["regret"] >= -1e-6).all()
        assert (r.trajectories["propensity"] > 0).all()


def test_uniform_regret_matches_closed_form_rate():
    """Uniform's expected regret per round is E_x[max_a μ − mean_a μ] for a fixed world."""
    world = envs.make("linear-gaussian", n_arms=5, dim=10, intercept=False)
    params = world.sample_params(jax.random.key(3))
    r = simulate(bandits.make("uniform", 5, 10), world, n_rounds=400, n_seeds=500,
                 env_params=params)
    x = np.random.default_rng(0).standard_normal((400_000, 10))
    mu = x @ np.asarray(params.theta).T
    per_round = (mu.max(1) - mu.mean(1)).mean()
    got = r.mean_regret[0, -1] / 400
    se = r.std_regret[0, -1] / 400 / np.sqrt(500)
    assert abs(got - per_round) < 4 * se + 1e-3, (got, per_round, se)


def test_plan_divides_horizon():
    for T in (1, 7, 97, 1000, 10_000, 12_345):
        p = make_plan(T, 500)
        assert p.chunk % p.block == 0 and p.chunk * p.n_chunks == T
    ck = log_checkpoints(10_000, 50)
    assert ck[0] == 1 and ck[-1] == 10_000 and (np.diff(ck) > 0).all()


def test_bad_arguments_raise(world):
    policy = bandits.make("lin_ucb", 5, 10)
    with pytest.raises(ValueError, match="n_rounds"):
        simulate(policy, world, n_rounds=0, n_seeds=1)
    with pytest.raises(ValueError, match="n_seeds"):
        simulate(policy, world, n_rounds=10, n_seeds=0)
    with pytest.raises(ValueError, match="dim=3"):
        simulate(bandits.make("lin_ucb", 5, 3), world, n_rounds=10, n_seeds=1)
    with pytest.raises(ValueError, match="layout"):
        simulate(policy, world, n_rounds=10, n_seeds=1, layout="rows")


@pytest.mark.slow
def test_regret_rates_on_linear_world():
    """LinUCB and linear TS: log-log slope < 0.75 between T=1,000 and T=20,000, and
    far below ε-greedy and uniform, whose regret grows linearly."""
    world = envs.make("linear-gaussian", n_arms=5, dim=10)
    T, S = 20_000, 200
    res = {}
    for name in ("lin_ucb", "lin_ts", "eps_greedy", "uniform"):
        r = simulate(bandits.make(name, 5, 10), world, n_rounds=T, n_seeds=S)
        res[name] = r.mean_regret[0]
    slope = {k: np.log(v[T - 1] / v[999]) / np.log(T / 1000) for k, v in res.items()}
    assert slope["lin_ucb"] < 0.75, slope
    assert slope["lin_ts"] < 0.75, slope
    assert 0.95 < slope["uniform"] < 1.05, slope
    for good in ("lin_ucb", "lin_ts"):
        assert res[good][-1] < 0.25 * res["eps_greedy"][-1]
        assert res[good][-1] < 0.25 * res["uniform"][-1]


@pytest.mark.parametrize("layout", ["lanes", "vmap"])
def test_final_state_matches_trajectories(world, layout):
    r = simulate(bandits.make("eps_greedy", 5, 10), world, n_rounds=90, n_seeds=3,
                 record_trajectories=True, layout=layout)
    counts = r.final_state.counts  # (G, S, K)
    assert counts.shape == (1, 3, 5)
    for s in range(3):
        np.testing.assert_array_equal(counts[0, s],
                                      np.bincount(r.trajectories["action"][0, s], minlength=5))
    np.testing.assert_allclose(r.final_state.sums.sum(-1), r.total_reward, rtol=1e-5)


@pytest.mark.parametrize("n_seeds, n_grid, n_dev, group", [
    (1000, 1, 2, 64), (10_000, 1, 2, 64), (6, 1, 2, 1), (1, 1, 2, 64), (37, 3, 2, 64),
    (100, 4, 1, 64), (5, 1, 3, 64),
])
def test_seed_padding_gives_aligned_groups(n_seeds, n_grid, n_dev, group):
    from envs.rollout import VECTOR_LANES, padded_seeds

    s = padded_seeds(n_seeds, n_grid, n_dev, group)
    lanes, rem = divmod(n_grid * s, n_dev)
    assert s >= n_seeds and rem == 0
    assert lanes % (group if lanes > group else VECTOR_LANES) == 0
    # the smallest such padding: one seed fewer would not do
    if s > n_seeds:
        lanes1, rem1 = divmod(n_grid * (s - 1), n_dev)
        assert rem1 or lanes1 % (group if lanes1 > group else VECTOR_LANES)


def test_recorded_logs_are_what_the_policy_saw_and_used(world):
    """Logs from a learning policy: μ(x, ·) recomputed from the logged context, pscore =
    action_dist[action], zero probability on ineligible arms, regret = max over eligible
    arms of μ − μ[action], and the same rows in every layout."""
    import jax

    from envs.logged import LoggedData

    policy = bandits.make("lin_eps_greedy", 5, 10, epsilon=0.2)
    r = simulate(policy, world, n_rounds=90, n_seeds=5, record_logs=True)
    t = r.trajectories
    assert t["context"].shape == (1, 5, 90, 10) and t["action_dist"].shape == (1, 5, 90, 5)
    for s in range(5):
        ep = world.sample_params(jax.random.fold_in(jax.random.fold_in(jax.random.key(0), s),
                                                     0))
        mu = np.asarray(jax.vmap(lambda x: world.mean_rewards(ep, (), x))(t["context"][0, s]))
        np.testing.assert_allclose(t["expected_reward"][0, s], mu, rtol=1e-5, atol=1e-6)
        a = t["action"][0, s]
        np.testing.assert_allclose(t["propensity"][0, s], t["action_dist"][0, s][np.arange(90), a])
        m = t["mask"][0, s]
        assert m[np.arange(90), a].all() and not t["action_dist"][0, s][~m].any()
        best = np.where(m, mu, -np.inf).max(1)
        np.testing.assert_allclose(t["regret"][0, s], best - mu[np.arange(90), a],
                                   rtol=1e-5, atol=1e-5)
    # ε-greedy's exact probabilities: ε/k on each of k eligible arms, + 1 − ε on the greedy
    p, m = t["action_dist"][0, 0, 50], t["mask"][0, 0, 50]
    k = m.sum()
    np.testing.assert_allclose(np.sort(p[m]), [0.2 / k] * (k - 1) + [0.8 + 0.2 / k], rtol=1e-5)
    logged = LoggedData.from_rollout(r, seed=3)
    np.testing.assert_array_equal(logged.context, t["context"][0, 3])
    other = simulate(policy, world, n_rounds=90, n_seeds=8, record_logs=True, layout="vmap",
                     group_lanes=1, chunk_rounds=30, first_seed=2)
    np.testing.assert_array_equal(other.trajectories["action"][0, :3], t["action"][0, 2:])
    np.testing.assert_allclose(other.trajectories["context"][0, :3], t["context"][0, 2:])
    with pytest.raises(ValueError, match="record_logs=True"):
        LoggedData.from_rollout(simulate(policy, world, n_rounds=10, n_seeds=1))
