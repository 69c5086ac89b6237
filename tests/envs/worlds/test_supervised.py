"""Supervised datasets as bandits: exact mean rewards, the world under the rollout engine,
behaviour-policy logs with exact propensities and the exact value of target policies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import datasets as skd
from sklearn.linear_model import LogisticRegression

import bandits
import envs  # sets XLA flags; imported before any JAX computation runs
from envs.data.supervised import behaviour_probs, split_rows, supervised_logs, true_value
from envs.engine.driver import EngineOptions, simulate
from envs.engine.lanes import lane_vmap
from envs.worlds.supervised import (
    DATASETS,
    conditional_probs,
    context_hash,
    hash_table,
    load_table,
)

SHAPES = {"digits": (1797, 64, 10), "wine": (178, 13, 3), "breast_cancer": (569, 30, 2),
          "iris": (150, 4, 3)}


def all_mean_rewards(w, params, x):
    return np.asarray(jax.jit(jax.vmap(w.mean_rewards, in_axes=(None, None, 0)))(params, (), x))


@pytest.mark.parametrize("dataset", DATASETS)
def test_mean_rewards_are_the_labels(dataset):
    """Duplicates: none in digits, wine and breast_cancer; iris has one pair of identical
    rows, of the same class. So every dataset's mean rewards are exactly its one-hot
    labels."""
    n, d, k = SHAPES[dataset]
    raw = getattr(skd, f"load_{dataset}")()
    _, first, counts = np.unique(raw.data, axis=0, return_index=True, return_counts=True)
    dup_groups = int((counts > 1).sum())
    assert dup_groups == (1 if dataset == "iris" else 0)
    if dataset == "iris":
        (g,) = np.flatnonzero(counts > 1)
        rows = np.flatnonzero((raw.data == raw.data[first[g]]).all(1))
        assert len(rows) == 2 and raw.target[rows[0]] == raw.target[rows[1]]

    w = envs.make("supervised", dataset=dataset, intercept=True)
    assert (w.n_arms, w.dim, w.n_rows) == (k, d + 1, n) and w.binary_rewards
    t = load_table(dataset, intercept=True)
    np.testing.assert_array_equal(t.context[:, 0], 1.0)
    z = t.context[:, 1:].astype(np.float64)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)
    sd = z.std(0)
    np.testing.assert_allclose(sd[sd > 0], 1.0, rtol=1e-5)
    params = w.sample_params(jax.random.key(0))
    mu = all_mean_rewards(w, params, params.context)
    np.testing.assert_array_equal(mu, np.eye(k)[raw.target])
    # distinct contexts, distinct hashes: one table entry per distinct context
    assert len(hash_table(dataset, True).hashes) == n - dup_groups


def test_conditional_probs_among_duplicates():
    x = np.array([[0, 1], [0, 1], [0, 1], [1, 1], [2, 0]], np.float32)
    y = np.array([0, 2, 0, 1, 2])
    want = [[2 / 3, 0, 1 / 3]] * 3 + [[0, 1, 0], [0, 0, 1]]
    np.testing.assert_allclose(conditional_probs(x, y, 3), want, rtol=1e-15)


def test_hash_is_the_same_everywhere():
    """NumPy, jit + vmap, and the lane transform give the same bits; a context the world
    never drew gets NaN mean rewards; -0 and +0 hash alike."""
    w = envs.make("supervised", dataset="digits")
    p = w.sample_params(jax.random.key(0))
    h = hash_table("digits")
    x = load_table("digits").context
    ref = context_hash(x, h.words)
    assert ref.dtype == np.uint32 and len(np.unique(ref)) == len(x)
    jit = jax.jit(jax.vmap(context_hash, in_axes=(0, None)))(jnp.asarray(x), p.words)
    np.testing.assert_array_equal(np.asarray(jit), ref)
    lanes = jax.jit(lane_vmap(context_hash, (-1, None)))(jnp.asarray(x.T), p.words)
    np.testing.assert_array_equal(np.asarray(lanes), ref)
    zero = x[:1].copy()
    col = int(np.flatnonzero(zero[0] == 0)[0])
    neg = zero.copy()
    neg[0, col] = -0.0
    assert np.signbit(neg[0, col])
    assert context_hash(neg, h.words)[0] == ref[0]
    off = x[:4].copy()
    off[:, 5] = np.nextafter(off[:, 5], np.float32(np.inf))
    mu = all_mean_rewards(w, p, jnp.asarray(off))
    assert np.isnan(mu).all()


def test_simulate_regret_is_exact():
    """The engine's regret equals 1{true class eligible} - 1{chosen = true class},
    recomputed from the recorded contexts, masks and actions; rewards are the hits."""
    w = envs.make("supervised", dataset="wine", p_eligible=0.7)
    policy = bandits.make("lin_ucb", w.n_arms, w.dim, alpha=0.5)
    r = simulate(policy, w, n_rounds=160, n_seeds=3, record="logs")
    t = load_table("wine")
    ctx = r.trajectories["context"].reshape(-1, w.dim)
    match = (ctx[:, None, :] == t.context[None]).all(-1)
    np.testing.assert_array_equal(match.sum(1), 1)  # every context is one dataset row
    label = t.label[match.argmax(1)].reshape(1, 3, 160)
    mask = r.trajectories["mask"]
    assert 0 < mask.mean() < 1
    action = r.trajectories["action"]
    hit = (action == label).astype(np.float32)
    eligible = np.take_along_axis(mask, label[..., None], -1)[..., 0]
    np.testing.assert_array_equal(r.trajectories["regret"], eligible - hit)
    np.testing.assert_array_equal(r.trajectories["reward"], hit)
    np.testing.assert_array_equal(r.trajectories["expected_reward"],
                                  np.eye(3, dtype=np.float32)[label])
    np.testing.assert_array_equal(r.final_regret, (eligible - hit).sum(-1))
    np.testing.assert_array_equal(r.total_reward, hit.sum(-1))
    assert 0 < r.final_regret.min()  # a learner that still errs: the check has teeth
    # the vmap layout gives the same run
    v = simulate(policy, w, n_rounds=160, n_seeds=3, record="trajectories",
                 options=EngineOptions(layout="vmap"))
    np.testing.assert_array_equal(v.trajectories["action"], action)
    np.testing.assert_array_equal(v.final_regret, r.final_regret)


def test_make_validates():
    with pytest.raises(ValueError, match="env.dataset must be one of digits, wine, "
                                         "breast_cancer, iris, got 'mnist'"):
        envs.make("supervised", dataset="mnist")
    with pytest.raises(ValueError, match="has no key 'n_arms'"):
        envs.make("supervised", n_arms=3)
    with pytest.raises(ValueError, match="env.intercept must be true or false"):
        envs.make("supervised", intercept=1)
    with pytest.raises(ValueError, match="env.p_eligible"):
        envs.make("supervised", p_eligible=0.0)


def test_split_is_stratified_and_disjoint():
    fit, log = split_rows("wine", fit_fraction=0.4, split_seed=3)
    y = load_table("wine").label
    assert len(np.intersect1d(fit, log)) == 0 and len(fit) + len(log) == 178
    np.testing.assert_array_equal(np.bincount(y[fit]), np.round(0.4 * np.bincount(y)))
    again, _ = split_rows("wine", fit_fraction=0.4, split_seed=3)
    other, _ = split_rows("wine", fit_fraction=0.4, split_seed=4)
    np.testing.assert_array_equal(fit, again)
    assert not np.array_equal(fit, other)


def test_logged_propensities_are_the_behaviour_probabilities():
    tau, eps = 0.5, 0.2
    logs, _ = supervised_logs("wine", 7, 20_000, temperature=tau, epsilon=eps)
    t = load_table("wine")
    fit, pool = split_rows("wine")
    # the behaviour policy recomputed independently from its definition
    clf = LogisticRegression(max_iter=5000).fit(t.context[fit].astype(np.float64),
                                                t.label[fit])
    p = clf.predict_proba(t.context.astype(np.float64)) ** (1 / tau)
    want = (1 - eps) * p / p.sum(1, keepdims=True) + eps / 3
    rows = (logs.context[:, None, :] == t.context[None]).all(-1).argmax(1)
    assert np.isin(rows, pool).all()  # logs never show a row the behaviour model fitted
    np.testing.assert_allclose(logs.action_dist, want[rows], rtol=1e-6)
    np.testing.assert_array_equal(logs.pscore,
                                  logs.action_dist[np.arange(logs.n_rows), logs.action])
    assert logs.pscore.min() >= eps / 3 and logs.pscore.max() > 0.8
    # actions follow those probabilities: per-arm counts within 4 standard deviations
    expect = logs.action_dist.sum(0)
    sd = np.sqrt((logs.action_dist * (1 - logs.action_dist)).sum(0))
    assert (np.abs(np.bincount(logs.action, minlength=3) - expect) < 4 * sd).all()
    # rewards are the hits (wine has no duplicate contexts)
    np.testing.assert_array_equal(logs.reward, (logs.action == t.label[rows]).astype(float))
    # uniform behaviour; the same key gives the same logs, a JAX key works too
    uni, _ = supervised_logs("wine", 7, 100, behaviour="uniform")
    np.testing.assert_array_equal(uni.pscore, 1 / 3)
    a, _ = supervised_logs("wine", jax.random.key(1), 100)
    b, _ = supervised_logs("wine", jax.random.key(1), 100)
    c, _ = supervised_logs("wine", jax.random.key(2), 100)
    np.testing.assert_array_equal(a.context, b.context)
    assert not np.array_equal(a.action, c.action)


def test_true_value_is_exact():
    t = load_table("iris")
    onehot = np.eye(3)
    assert true_value("iris", lambda x: onehot[t.label]) == 1.0
    assert true_value("iris", lambda x: np.full((len(x), 3), 1 / 3)) == pytest.approx(
        1 / 3, abs=1e-15)
    # over a subset of rows, for a stochastic policy: mean of π(y_i | x_i)
    probs = behaviour_probs("iris", temperature=2.0)
    _, pool = split_rows("iris")
    v = true_value("iris", lambda x: probs[pool], rows=pool)
    assert v == pytest.approx(probs[pool, t.label[pool]].mean(), rel=1e-12)
    # JAX functions of the contexts work too
    lin = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3)), jnp.float32)
    f = lambda x: jax.nn.softmax(jnp.asarray(x) @ lin, -1)
    want = np.asarray(f(t.context), np.float64)[np.arange(150), t.label].mean()
    assert true_value("iris", f) == pytest.approx(want, rel=1e-6)


def test_ips_is_unbiased_for_the_true_value():
    """Mean IPS over 300 independent logs of 200 rows is within 3 Monte Carlo standard
    errors of the exact value, while the logs' own average reward is far from it."""
    t = load_table("wine")
    # target: greedy on a ridge model (another model than the logistic behaviour)
    greedy = np.eye(3)[behaviour_probs("wine", model="ridge", epsilon=0.0,
                                       temperature=0.05).argmax(1)]
    row_of = {r.tobytes(): i for i, r in enumerate(t.context)}
    target = lambda x: greedy[[row_of[r.tobytes()] for r in np.asarray(x)]]
    ips, naive = [], []
    for seed in range(300):
        logs, truth = supervised_logs("wine", seed, 200, temperature=2.0, epsilon=0.3)
        pi = target(logs.context)[np.arange(200), logs.action]
        ips.append(np.mean(pi / logs.pscore * logs.reward))
        naive.append(logs.reward.mean())
    v = truth(target)
    se = np.std(ips, ddof=1) / np.sqrt(len(ips))
    assert 0 < se < 0.01
    assert abs(np.mean(ips) - v) < 3 * se, (np.mean(ips), v, se)
    assert abs(np.mean(naive) - v) > 10 * se


def test_bad_inputs():
    with pytest.raises(ValueError, match="dataset must be one of .*got 'cifar'"):
        supervised_logs("cifar", 0, 10)
    with pytest.raises(ValueError, match="behaviour must be one of softmax, uniform"):
        supervised_logs("wine", 0, 10, behaviour="greedy")
    with pytest.raises(ValueError, match="model must be one of logistic, ridge"):
        supervised_logs("wine", 0, 10, model="tree")
    with pytest.raises(ValueError, match="temperature must be a number > 0, got 0"):
        supervised_logs("wine", 0, 10, temperature=0)
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\], got 1.5"):
        supervised_logs("wine", 0, 10, epsilon=1.5)
    with pytest.raises(ValueError, match="n_rows must be an integer >= 1, got 0"):
        supervised_logs("wine", 0, 0)
    with pytest.raises(ValueError, match=r"fit_fraction must be a number in \(0, 1\)"):
        supervised_logs("wine", 0, 10, fit_fraction=1.0)
    with pytest.raises(ValueError, match="key_or_seed must be an int seed or a JAX key"):
        supervised_logs("wine", "zero", 10)
    with pytest.raises(ValueError, match=r"target_probs_fn\(context\) must have shape"):
        true_value("wine", lambda x: np.ones((len(x), 2)) / 2)
    with pytest.raises(ValueError, match=r"target_probs_fn\(context\) rows must sum to 1"):
        true_value("wine", lambda x: np.ones((len(x), 3)))
