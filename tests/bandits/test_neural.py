"""The neural policies' pieces against independent references: gradient features against
the hand-derived gradient of a one-hidden-layer ReLU network, one training step against
a hand-written optax step, NeuralLinear's head against a NumPy Bayesian linear
regression on the same features, the replay buffer's contents, the diagonal design of
NeuralUCB, and actions that do not depend on how many seeds run together."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import envs  # noqa: F401  (XLA flags before JAX starts)
from bandits.neural import neural_linear, neural_ts, neural_ucb
from bandits.neural.network import arm_inputs, features, flat_gradients, init_mlp
from bandits.neural.replay import network_input, replay_add, replay_filled, replay_init
from bandits.neural.training import TrainSpec, squared_error, train_network
from envs.engine import EngineOptions, simulate
from envs.worlds import registry

K, D = 3, 4


def _numpy_gradient(layers, x):
    """∂f/∂(W1, b1, W2, b2) of f(x) = relu(x W1 + b1) W2 + b2, by hand."""
    w1, b1, w2, b2 = (np.asarray(a, np.float64) for layer in layers for a in layer)
    z = x @ w1 + b1
    on = (z > 0).astype(np.float64)
    back = w2[:, 0] * on
    return np.concatenate([np.outer(x, back).ravel(), back, np.maximum(z, 0), [1.0]])


def test_gradient_features_are_the_network_outputs_gradient():
    layers = init_mlp(jax.random.key(0), (6, 8, 1))
    xs = np.asarray(jax.random.normal(jax.random.key(1), (5, 6)))
    got = np.asarray(flat_gradients(layers, jnp.asarray(xs, jnp.float32)))
    want = np.stack([_numpy_gradient(layers, x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_disjoint_encoding_puts_the_context_in_its_arms_block():
    x = jnp.arange(1.0, 5.0)
    inputs = np.asarray(arm_inputs(x, 3, 0))
    assert inputs.shape == (3, 12)
    for a in range(3):
        block = inputs[a].reshape(3, 4)
        np.testing.assert_array_equal(block[a], [1, 2, 3, 4])
        assert block.sum() == 10
    per_arm = np.asarray(arm_inputs(jnp.arange(6.0), 3, 2))
    np.testing.assert_array_equal(per_arm, [[0, 1], [2, 3], [4, 5]])


def test_the_replay_buffer_keeps_exactly_the_last_n_observations():
    buffer = replay_init(5, 2)
    for t in range(13):
        buffer = replay_add(buffer, jnp.full((2,), t, jnp.float32), t % 3, 10.0 * t)
    assert int(replay_filled(buffer)) == 5
    assert sorted(np.asarray(buffer.reward).tolist()) == [80, 90, 100, 110, 120]
    for slot in range(5):
        t = int(buffer.reward[slot]) // 10
        assert int(buffer.action[slot]) == t % 3 and float(buffer.inputs[slot, 0]) == t


def test_one_training_step_is_a_hand_written_optax_adam_step():
    spec = TrainSpec(n_arms=K, arm_features=0, n_steps=1, batch=4, optimizer="adam")
    layers = init_mlp(jax.random.key(2), (K * D, 16, 1))
    buffer = replay_init(8, D)
    rng = np.random.default_rng(0)
    for t in range(8):
        buffer = replay_add(buffer, jnp.asarray(rng.normal(size=D), jnp.float32), t % K,
                            float(rng.normal()))
    opt = optax.scale_by_adam()
    key = jax.random.key(3)
    got, _ = train_network(spec, layers, opt.init(layers), layers, buffer, key,
                           jnp.float32(0.01), jnp.float32(0.0))
    # by hand: the same minibatch (the step's key), optax.adam at lr 0.01
    step_key = jax.random.split(key, 1)[0]
    filled = int(replay_filled(buffer))
    index = np.minimum(np.floor(np.asarray(jax.random.uniform(step_key, (4,))) * filled)
                       .astype(int), filled - 1)
    x = network_input(buffer.inputs[index], buffer.action[index], K, 0)
    grads = jax.grad(lambda net: squared_error(net, x, buffer.reward[index],
                                               jnp.ones(4)))(layers)
    adam = optax.adam(0.01)
    updates, _ = adam.update(grads, adam.init(layers), layers)
    want = optax.apply_updates(layers, updates)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def linear_run():
    world = registry.make("linear-gaussian", n_arms=K, dim=D)
    policy = neural_linear(K, D, hidden=8, buffer=128, train_every=25, n_steps=5, batch=16)
    out = simulate(policy, world, n_rounds=110, n_seeds=2, record="trajectories")
    return policy, out


def test_neural_linear_head_is_a_bayesian_linear_regression(linear_run):
    """After 110 rounds the head holds the regression recomputed on the buffer with the
    network trained at round 100, then 10 recursive updates: equal to the closed form on
    all 110 observations' features under the final network (the buffer holds them all)."""
    policy, out = linear_run
    state = jax.tree_util.tree_map(lambda x: x[0, 0], out.final_state)
    x = network_input(state.buffer.inputs[:110], state.buffer.action[:110], K, 0)
    phi = np.asarray(features(state.net, x), np.float64)
    reward = np.asarray(state.buffer.reward[:110], np.float64)
    reg = float(policy.default_params.reg)
    a = reg * np.eye(phi.shape[1]) + phi.T @ phi
    np.testing.assert_allclose(np.asarray(state.stats.a_inv), np.linalg.inv(a), rtol=2e-3,
                               atol=2e-4)
    np.testing.assert_allclose(np.asarray(state.stats.theta), np.linalg.solve(a, phi.T @ reward),
                               rtol=2e-3, atol=2e-3)


def test_neural_ucb_design_diagonal_grows_by_the_played_arms_gradients():
    policy = neural_ucb(K, D, hidden=8, buffer=64, train_every=1000, n_steps=1)
    state = policy.init(policy.default_params, jax.random.key(0))
    mask = jnp.ones(K, bool)
    hand = np.ones(int(state.stats.shape[0]))
    for t in range(5):
        context = jax.random.normal(jax.random.key(10 + t), (D,))
        decision, state = policy.serve(policy.default_params, state, jax.random.key(t),
                                       context, mask)
        x = arm_inputs(context, K, 0)[decision.action]
        g = np.asarray(flat_gradients(state.net, x[None]))[0]
        hand += g * g / 8  # m = 8 hidden units
    np.testing.assert_allclose(np.asarray(state.stats), hand, rtol=1e-5)


@pytest.mark.parametrize("make", [neural_linear, neural_ts])
def test_actions_do_not_depend_on_how_many_seeds_run_together(make):
    """The policies with the most per-lane machinery: a refreshed head, gradient features
    and quadrature propensities."""
    world = registry.make("linear-gaussian", n_arms=K, dim=D)
    policy = make(K, D, hidden=8, buffer=32, train_every=10, n_steps=3, batch=8)
    kw = dict(n_rounds=40, record="trajectories")
    four = simulate(policy, world, n_seeds=4, **kw)
    one = simulate(policy, world, n_seeds=1, first_seed=2,
                   options=EngineOptions(layout="vmap", group_lanes=1), **kw)
    np.testing.assert_array_equal(four.trajectories["action"][:, 2:3],
                                  one.trajectories["action"])


def test_wrapped_neural_policies_keep_observing_and_training():
    """The exploration floor and a restart pass NeuralUCB's decision-time design updates
    (``observe``) and its trainings on."""
    from bandits.combinators import exploration_floor, restart

    inner = neural_ucb(K, D, hidden=8, buffer=16, train_every=5, n_steps=1, batch=4)
    for wrapped, state_of in ((exploration_floor(inner, 0.05), lambda s: s),
                              (restart(inner), lambda s: s.inner)):
        assert wrapped.observe is not None and wrapped.train_every == 5
        params = wrapped.default_params
        state = wrapped.init(params, jax.random.key(0))
        _, state = wrapped.serve(params, state, jax.random.key(1), jnp.ones(D),
                                 jnp.ones(K, bool))
        assert float(jnp.sum(state_of(state).stats)) > float(jnp.sum(
            state_of(wrapped.init(params, jax.random.key(0))).stats))
        trained = wrapped.train(params, state)  # a training draws its minibatches' key
        assert not np.array_equal(state_of(trained).key, state_of(state).key)


@pytest.mark.parametrize("stored", [1, 255, 256, 450, 700])
def test_neural_linear_refresh_reads_exactly_the_filled_slots(stored):
    """ΦᵀΦ and Φᵀr over a 600-slot buffer read 256 slots at a time: with 1, 255, 256 or
    450 observations (chunk edges, a partial last chunk) they equal NumPy's sums over the
    filled prefix; with 700 (the ring wrapped) over every slot."""
    from bandits.neural.linear_head import _buffer_moments
    net = init_mlp(jax.random.key(0), (K * D, 6, 1))
    rng = np.random.default_rng(stored)
    buf = replay_init(600, D)
    for i in range(stored):
        buf = replay_add(buf, jnp.asarray(rng.standard_normal(D), jnp.float32),
                         jnp.int32(i % K), jnp.float32(rng.standard_normal()))
    gram, xty = _buffer_moments(net, buf, K, 0)
    n = min(stored, 600)
    phi = np.asarray(features(net, network_input(buf.inputs[:n], buf.action[:n], K, 0)),
                     np.float64)
    np.testing.assert_allclose(gram, phi.T @ phi, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(xty, phi.T @ np.asarray(buf.reward[:n]), rtol=1e-4,
                               atol=1e-4)
