"""``lane_vmap`` computes what ``jax.vmap`` computes, with the batch on the last axis.

Every comparison runs ``jax.vmap(fn)`` with the batch first, moves its outputs' batch
axis last, and checks ``lane_vmap(fn)`` on the correspondingly transposed inputs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from support import NONDEFAULT_HYPER

import bandits
import envs  # sets XLA flags; imported before any JAX computation runs
from bandits.context_free import ArmStats
from bandits.linear import RidgeState
from envs.engine.lanes import lane_vmap

B = 7  # lanes
N_ARMS, DIM = 5, 4
tmap = jax.tree_util.tree_map


def to_lanes(tree):
    return tmap(lambda a: jnp.moveaxis(jnp.asarray(a), 0, -1), tree)


def _plain(x):
    """Key arrays as their key data (compared bit for bit), anything else as NumPy."""
    if jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(x))
    return np.asarray(x)


def assert_trees_match(got, want, rtol=1e-5, atol=1e-6):
    g_leaves, g_tree = jax.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    assert g_tree == w_tree
    for g, w in zip(g_leaves, w_leaves):
        g, w = _plain(g), _plain(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        if np.issubdtype(w.dtype, np.floating):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(g, w)


def compare(fn, args, axes, jit=True):
    """lane_vmap(fn, axes) on lanes-last args == moveaxis(vmap(fn, axes as 0/None))."""
    vaxes = tuple(tmap(lambda a: None if a is None else 0, ax, is_leaf=lambda z: z is None)
                  for ax in axes)
    want = to_lanes(jax.jit(jax.vmap(fn, in_axes=vaxes))(*args))
    lane_args = [tmap(lambda b, sub: sub if b is None else to_lanes(sub), ax, a,
                      is_leaf=lambda z: z is None)
                 for a, ax in zip(args, axes)]
    f = lane_vmap(fn, tuple(axes))
    got = (jax.jit(f) if jit else f)(*lane_args)
    assert_trees_match(got, want)
    return got


# ------------------------------------------------------------------ every policy

# fewer Monte Carlo draws than the policy tests: here only layouts are compared
HYPER = {name: {**h, **({"n_prob_draws": h["n_prob_draws"] // 2} if "n_prob_draws" in h
                        else {})} for name, h in NONDEFAULT_HYPER.items()}


def test_every_registered_policy_is_covered():
    assert set(HYPER) == set(bandits.names())


def lane_states(p, rng):
    """A different, valid state per lane, batch first: random sufficient statistics for the
    context-free and ridge families, and for any other policy its own ``init`` followed by
    a few updates on different rows per lane."""
    state_type = type(p.init(p.default_params, jax.random.key(0)))
    if state_type is ArmStats:
        counts = rng.integers(0, 6, (B, N_ARMS)).astype(np.float32)
        sums = (counts * rng.random((B, N_ARMS))).astype(np.float32)  # 0 <= sums <= counts
        return ArmStats(jnp.asarray(counts), jnp.asarray(sums))
    if state_type is RidgeState:
        x = rng.standard_normal((B, N_ARMS, 6, DIM))
        a_inv = np.linalg.inv(np.eye(DIM) + np.swapaxes(x, -1, -2) @ x)
        return RidgeState(jnp.asarray(a_inv, jnp.float32),
                          jnp.asarray(rng.standard_normal((B, N_ARMS, DIM)), jnp.float32))
    rows = 6
    xs = jnp.asarray(rng.standard_normal((B, rows, DIM)), jnp.float32)
    acts = jnp.asarray(rng.integers(0, N_ARMS, (B, rows)), jnp.int32)
    rs = jnp.asarray(rng.integers(0, 2, (B, rows)), jnp.float32)

    def warm(x, a, r):
        state = p.init(p.default_params, jax.random.key(0))
        for i in range(rows):
            state = p.update(p.default_params, state, x[i], a[i], r[i])
        return state

    return jax.vmap(warm)(xs, acts, rs)


@pytest.mark.parametrize("name", bandits.names())
def test_policy_act_and_update(name):
    """One round per lane: act (draw + decide) and update, with one params pytree shared
    by all lanes and with one per lane (a hyperparameter grid, as the rollout engine runs
    it), in one program."""
    p = bandits.make(name, N_ARMS, DIM, **HYPER[name])
    rng = np.random.default_rng(0)
    # every hyperparameter scaled by a lane-dependent factor in [0.5, 1]: still valid
    factors = np.linspace(0.5, 1.0, B, dtype=np.float32)
    lane_params = tmap(lambda v: jnp.asarray(v * factors), p.default_params)
    states = lane_states(p, rng)
    keys = jax.random.split(jax.random.key(1), B)
    ctx = jnp.asarray(rng.standard_normal((B, DIM)), jnp.float32)
    masks = rng.random((B, N_ARMS)) < 0.6
    masks[np.arange(B), rng.integers(0, N_ARMS, B)] = True
    action = jnp.asarray(rng.integers(0, N_ARMS, B), jnp.int32)
    reward = jnp.asarray(rng.integers(0, 2, B), jnp.float32)

    def round_(shared, per_lane, state, key, x, mask, a, r):
        return [(p.act(q, state, key, x, mask), p.update(q, state, x, a, r))
                for q in (shared, per_lane)]

    out = compare(round_, (p.default_params, lane_params, states, keys, ctx,
                           jnp.asarray(masks), action, reward),
                  (None, -1, -1, -1, -1, -1, -1, -1))
    for dec, new_state in out:
        assert dec.action.shape == (B,) and dec.probs.shape == (N_ARMS, B)
        # the lanes differ, so the comparison is not between broadcast copies
        assert len({tuple(np.asarray(dec.probs[:, i]).round(6)) for i in range(B)}) > 1
        changed = tmap(lambda n, o: np.asarray(n) != np.moveaxis(np.asarray(o), 0, -1),
                       new_state, states)
        assert any(c.any() for c in jax.tree_util.tree_leaves(changed))


# ------------------------------------------------------------------- every world

WORLDS = {
    "linear-gaussian": dict(n_arms=4, dim=6, noise_std=0.7, p_eligible=0.6),
    "logistic-bernoulli": dict(n_arms=4, dim=6, scale=2.0, base_logit=-1.0, p_eligible=0.6),
    "slice-sum": dict(n_arms=3, dim=11, noise_std=0.4, p_eligible=0.6),
    "wheel": dict(delta=0.6, mu_1=0.5, mu_2=0.2, mu_3=3.0, noise_std=0.3, p_eligible=0.6),
    "neural-synthetic": dict(function="h2", n_arms=3, arm_features=4, noise_std=0.4,
                             p_eligible=0.6),
}


def test_every_registered_world_is_covered():
    # the supervised world needs its real tables as params (random ones would not be a
    # dataset); its lane layout is checked in tests/envs/test_supervised.py
    assert set(WORLDS) | {"supervised"} == set(envs.names())


def lane_world_params(w, seed):
    """One world instance per lane, random in every leaf (nonzero biases included)."""
    shapes = jax.eval_shape(w.sample_params, jax.random.key(0))
    r = np.random.default_rng(seed)
    return tmap(lambda a: jnp.asarray(np.abs(r.standard_normal((B,) + a.shape)), a.dtype),
                shapes)


@pytest.mark.parametrize("p_eligible", [0.6, 1.0])
@pytest.mark.parametrize("name", sorted(WORLDS))
def test_world_functions(name, p_eligible):
    """sample_context, draw_reward_noise, sample_rewards, mean_rewards and realise with one
    world instance per lane; mean_rewards and realise with one instance shared by every
    lane; at p_eligible = 1 the mask-free context path."""
    w = envs.make(name, **{**WORLDS[name], "p_eligible": p_eligible})
    k_c = jax.random.split(jax.random.key(2), B)
    k_r = jax.random.split(jax.random.key(3), B)
    params = lane_world_params(w, 4)
    x0 = jnp.asarray(np.random.default_rng(5).standard_normal((B, w.dim)), jnp.float32)
    if p_eligible == 1.0:
        context, mask = compare(w.sample_context, (k_c, params, ()), (-1, -1, None))
        assert np.asarray(mask).all()
    else:
        def world_round(k_c, k_r, params, state, x):
            context, mask = w.sample_context(k_c, params, state)
            mu = w.mean_rewards(params, state, x)
            noise = w.draw_reward_noise(k_r, params, state)
            return (context, mask, mu, noise, w.sample_rewards(k_r, params, state, x),
                    w.realise(params, mu, noise))

        context, mask, _, noise, _, _ = compare(world_round, (k_c, k_r, params, (), x0),
                                                (-1, -1, -1, None, -1))
        assert not np.asarray(mask).all()

        def shared(params, state, x, noise):
            mu = w.mean_rewards(params, state, x)
            return mu, w.realise(params, mu, noise)

        one = tmap(lambda a: a[0], params)
        compare(shared, (one, (), x0, jnp.moveaxis(noise, -1, 0)), (None, None, -1, -1))
    assert context.shape == (w.dim, B) and mask.shape == (w.n_arms, B)
    assert len(np.unique(np.asarray(context)[-1])) == B  # lanes draw different contexts


# --------------------------------------------------------------- targeted cases

_rng = np.random.default_rng(4)


def _f32(*shape):
    return jnp.asarray(_rng.standard_normal(shape), jnp.float32)


M, V, X = _f32(B, 3, 4), _f32(B, 4), _f32(B, 8)
BIG_M, BIG_V = _f32(B, 80, 80), _f32(B, 80)  # 6400 products per lane: above the inline cap
I_B = jnp.asarray(_rng.integers(0, 5, B), jnp.int32)  # one index per lane
I_U = jnp.int32(3)  # an unbatched index
IM = jnp.asarray(_rng.integers(-5, 5, (B, 3, 4)), jnp.int32)
IV = jnp.asarray(_rng.integers(-5, 5, (B, 4)), jnp.int32)
KEYS = jax.random.split(jax.random.key(9), B)


def _scan(c0, xs):
    return lax.scan(lambda c, x: (0.5 * c + x, c * x), c0, xs)


def _select_scalar(x):
    return jnp.where(x > 0, x, 0.0)


CASES = {
    # dot_general, inlined as multiply-reduce
    "matvec-both": (lambda m, v: m @ v, (M, V), (-1, -1)),
    "matvec-batched-matrix": (lambda m, v: m @ v, (M, V[0]), (-1, None)),
    "matvec-batched-vector": (lambda m, v: m @ v, (M[0], V), (None, -1)),
    "vecmat": (lambda m, v: v[:3] @ m, (M, V), (-1, -1)),
    "matmat": (lambda a, b: a @ b.T, (M, M[0]), (-1, None)),
    "einsum-batch-dims": (lambda a, b: jnp.einsum("kij,kj->ki", a, b),
                          (jnp.stack([M, 2 * M], 1), jnp.stack([V, -V], 1)), (-1, -1)),
    "einsum-batch-dims-unbatched-rhs": (lambda a, b: jnp.einsum("kij,kj->ki", a, b),
                                        (jnp.stack([M, 2 * M], 1), jnp.stack([V[0], -V[0]])),
                                        (-1, None)),
    "int-matvec": (lambda m, v: m @ v, (IM, IV), (-1, -1)),
    "big-matvec-fallback": (lambda m, v: m @ v, (BIG_M, BIG_V), (-1, -1)),
    # structural
    "dynamic-slice-unbatched-index": (lambda x, i: lax.dynamic_slice(x, (i,), (3,)),
                                      (X, I_U), (-1, None)),
    "index-unbatched-int": (lambda x, i: x[i], (X, I_U), (-1, None)),
    "dynamic-update-slice-unbatched-index": (
        lambda x, u, i: lax.dynamic_update_slice(x, u, (i,)), (X, X[:, :2], I_U),
        (-1, -1, None)),
    "dynamic-slice-batched-index": (lambda x, i: lax.dynamic_slice(x, (i,), (3,)),
                                    (X, I_B), (-1, -1)),
    "gather-batched-index": (lambda x, i: x[i], (X, I_B), (-1, -1)),
    "gather-unbatched-table": (lambda x, i: x[jnp.stack([i, i + 1])], (X[0], I_B),
                               (None, -1)),
    "take-along-axis": (lambda m, i: jnp.take_along_axis(m, i[:, None] % 4, 1),
                        (M, jnp.stack([I_B, I_B + 1, I_B + 2], 1)), (-1, -1)),
    "concatenate-mixed": (lambda a, b, c: jnp.concatenate([a, b, c]),
                          (X[:, :3], X[0, :2], X[:, 5:]), (-1, None, -1)),
    "concatenate-2d-axis1": (lambda a, b: jnp.concatenate([a, b, a], axis=1),
                             (M, M[0]), (-1, None)),
    "shape-ops": (lambda m: (m.T, m.reshape(4, 3), m[None], m[:, ::2], m[1:, 1:3],
                             jnp.broadcast_to(m[:, :1], (3, 4)), jnp.squeeze(m[:1], 0),
                             jnp.tile(m, (2, 1)), jnp.pad(m, 1), m.ravel()), (M,), (-1,)),
    # elementwise and reductions
    "elementwise": (lambda m, s: (jnp.exp(m) * s - jnp.sqrt(jnp.abs(m)) / (1 + m**2),
                                  lax.clamp(-0.5, m, 0.5), jnp.where(m > s, m, -m),
                                  jax.nn.relu(m) + jax.nn.softplus(m), m ** 3,
                                  (m > 0).astype(jnp.int32) * 2, jnp.minimum(m, s)),
                    (M, V[:, 0]), (-1, -1)),
    "where-unbatched-scalar-predicate": (lambda x, p: jnp.where(p, x, -x),
                                         (X, jnp.array(True)), (-1, None)),
    "select-scalar-lanes-literal-case": (_select_scalar, (X[:, 0],), (-1,)),
    "logsumexp": (jax.nn.logsumexp, (X,), (-1,)),  # reaches the same select_n internally
    "reductions": (lambda m: (jnp.argmax(m, 0), jnp.argmin(m.ravel()), jnp.cumsum(m, 1),
                              jnp.max(m, -1, keepdims=True), jnp.sum(m), jnp.prod(m, 0),
                              jnp.any(m > 1, 1), jnp.cumsum(m[::-1], 0)[::-1]), (M,), (-1,)),
    "softmax": (jax.nn.softmax, (X,), (-1,)),
    "unbatched-outputs-broadcast": (lambda x, c: (jnp.sum(x), c * 2, jnp.arange(3)),
                                    (X, V[0]), (-1, None)),
    # primitives that fall back to jax.vmap
    "scan-batched-carry": (_scan, (X[:, 0], X[0]), (-1, None)),
    "scan-batched-xs": (_scan, (X[0, 0], X), (None, -1)),
    "sort": (jnp.sort, (X,), (-1,)),
    # PRNG keys: evaluated from the key implementation, bit for bit jax.vmap's numbers
    "random-typed-keys": (lambda k: jax.random.normal(k, (3,)),
                          (jax.random.split(jax.random.key(5), B),), (-1,)),
    "random-raw-keys": (lambda k: jax.random.uniform(k, (2, 3)),
                        (jax.random.split(jax.random.PRNGKey(6), B),), (-1,)),
    "random-fold-in-split-bits": (
        lambda k, t: (jax.random.normal(jax.random.fold_in(k, t), (10,)),
                      jax.random.uniform(jax.random.split(k, 3)[1]),
                      jax.random.bits(k, (3,), jnp.uint8), jax.random.bits(k, (5,), jnp.uint16),
                      jax.random.randint(jax.random.fold_in(k, 7), (2,), 0, 9)),
        (KEYS, I_B), (-1, -1)),
    "random-key-outputs": (lambda k: (jax.random.split(k, 3), jax.random.fold_in(k, 4)),
                           (KEYS,), (-1,)),
    "random-key-shape-ops": (
        lambda k: (lambda ks: (ks[1:3], ks[::2], ks.reshape(2, 2), ks[3], ks[None],
                               jnp.concatenate([ks[:1], ks[2:]])))(jax.random.split(k, 4)),
        (KEYS,), (-1,)),
    "random-unbatched-key-batched-message": (
        lambda k, t: jax.random.normal(jax.random.fold_in(k, t), (4,)),
        (jax.random.key(8), I_B), (None, -1)),
    "random-key-per-row-messages": (
        lambda k, t: jax.vmap(lambda ki, ti: jax.random.uniform(jax.random.fold_in(ki, ti)))(
            jax.random.split(k, 3), t),
        (KEYS, jnp.stack([I_B, I_B + 1, I_B + 2], 1)), (-1, -1)),
    "random-keys-through-fallback": (  # a scan carries keys: the jax.vmap fallback
        lambda k: lax.scan(lambda c, i: (jax.random.fold_in(c, i), jax.random.uniform(c)),
                           k, jnp.arange(3)), (KEYS,), (-1,)),
    "random-vmapped-inside": (  # how the engine draws a block of rounds
        lambda k: jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(k, t), (2,)))(
            jnp.arange(4)), (KEYS,), (-1,)),
    "nested-jit": (lambda x, m: jax.jit(lambda a, b: b @ a[:4])(x, m), (X, M[0]),
                   (-1, None)),
    # pytrees in and out, with a pytree prefix of in_axes
    "pytree": (lambda d, t: {"s": d["a"] * d["b"] + t[0][:, None], "t": (t[1].sum(), d["b"])},
               ({"a": M, "b": V}, (X[0, :3], M[0])), (-1, None)),
    "pytree-prefix": (lambda d, t: {"s": d["a"] * d["b"] + t[0], "t": (t[1].sum(), d["b"])},
                      ({"a": X, "b": X}, (X, M)), ({"a": -1, "b": -1}, -1)),
    "pytree-prefix-with-none": (
        lambda d, t: {"s": d["a"] * d["b"] + t[0], "t": (t[1].sum(), d["b"] + 1)},
        ({"a": X, "b": X[0]}, (X, M)), ({"a": -1, "b": None}, -1)),
}



# eager runs too where eager and jit take different code paths (concrete vs traced
# unbatched operands); the rest only under jit, as the rollout engine runs lane_vmap
EAGER_TOO = {"matvec-batched-vector", "dynamic-slice-unbatched-index", "index-unbatched-int",
             "dynamic-update-slice-unbatched-index", "concatenate-mixed", "scan-batched-carry",
             "gather-batched-index", "pytree"}


def _params():
    out = []
    for c in CASES:
        for jit in ((False, True) if c in EAGER_TOO else (True,)):
            out.append(pytest.param(c, jit, id=f"{c}-{'jit' if jit else 'eager'}"))
    return out


@pytest.mark.parametrize("case,jit", _params())
def test_targeted_case(case, jit):
    fn, args, axes = CASES[case]
    compare(fn, args, axes, jit=jit)


def test_scalar_in_axes_batches_every_argument():
    f = lambda m, v: (m @ v, v.sum())
    both = lane_vmap(f, (-1, -1))(jnp.moveaxis(M, 0, -1), jnp.moveaxis(V, 0, -1))
    assert_trees_match(lane_vmap(f, -1)(jnp.moveaxis(M, 0, -1), jnp.moveaxis(V, 0, -1)), both)


def test_small_dots_are_inlined_and_large_ones_fall_back():
    """The layout claim: small dot_general becomes multiply-reduce (no dot_general left),
    a large one is handed to jax.vmap (dot_general kept)."""
    small = jax.make_jaxpr(lane_vmap(lambda m, v: m @ v, (-1, -1)))(
        jnp.moveaxis(M, 0, -1), jnp.moveaxis(V, 0, -1))
    large = jax.make_jaxpr(lane_vmap(lambda m, v: m @ v, (-1, -1)))(
        jnp.moveaxis(BIG_M, 0, -1), jnp.moveaxis(BIG_V, 0, -1))
    assert "dot_general" not in str(small)
    assert "dot_general" in str(large)


def test_random_numbers_are_elementwise_over_lanes():
    """The layout claim for PRNG keys: the draws become the Threefry hash on lanes-last
    arrays, with no ``random_bits`` left for ``jax.vmap`` to batch."""
    f = lane_vmap(lambda k, t: jax.random.normal(jax.random.fold_in(k, t), (3,)), (-1, -1))
    jaxpr = str(jax.make_jaxpr(f)(KEYS, I_B))
    assert "random_bits" not in jaxpr and "random_fold_in" not in jaxpr
    assert "threefry2x32" in jaxpr and f"u32[3,{B}]" in jaxpr


@pytest.mark.parametrize("setting", ["rbg", "threefry-non-partitionable"])
def test_other_key_types_follow_their_implementation(setting):
    """Keys other than JAX's default Threefry layout are evaluated from their own
    implementation's functions (and its fallbacks), with the same numbers as jax.vmap."""
    def fn(k, t):
        return (jax.random.normal(jax.random.fold_in(k, t), (3,)), jax.random.split(k, 2),
                jax.random.bits(k, (2,), jnp.uint8), jax.random.uniform(k))

    if setting == "rbg":
        compare(fn, (jax.random.split(jax.random.key(3, impl="rbg"), B), I_B), (-1, -1))
    else:
        with jax.threefry_partitionable(False):
            compare(fn, (KEYS, I_B), (-1, -1))


def test_mismatched_lane_sizes_raise():
    f = lane_vmap(lambda a, b: a + b, (-1, -1))
    with pytest.raises(ValueError, match="batch size"):
        f(jnp.ones((3, B)), jnp.ones((3, B + 1)))
    with pytest.raises(ValueError, match="batch size"):
        lane_vmap(lambda a: a, (None,))(jnp.ones(3))  # nothing batched
    # unbatched arguments may have any last-axis size
    out = lane_vmap(lambda a, b: a + b[0], (-1, None))(jnp.ones((3, B)), jnp.ones(B + 1))
    assert out.shape == (3, B)
