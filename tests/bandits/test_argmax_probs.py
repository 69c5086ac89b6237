"""Thompson sampling's action distribution over Gaussian scores by quadrature: against a
float64 trapezoid reference on hard cases (100×–1000× scale ratios, far-apart means,
masked arms, deterministic arms and exact ties), the chosen arm's positivity, and Gaussian
TS decisions that still come from the same deciding draw."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import log_ndtr

import bandits
import envs  # noqa: F401  (sets XLA flags; imported before any JAX computation runs)
from bandits.argmax_probs import gaussian_argmax_probs
from bandits.base import gaussian_thompson
from bandits.linear import RidgeState

TOL = 3e-4  # max absolute error at the default 10 nodes per arm (measured ≤ 1.6e-4)
K = 10  # every case is padded to K arms with masked ones, so one program serves all


@jax.jit
def _log_cdfs(x, mean, scale, rand):
    return jnp.where(rand, log_ndtr((x[:, None] - mean) / jnp.where(rand, scale, 1.0)), 0.0)


def reference(mean, scale, mask, n=2001, width=12.0):
    """P(arm a is the eligible argmax) in float64: a trapezoid integral of
    f_a(x) Π_{b≠a} F_b(x) on the union of every arm's fine grid m_b ± 12 s_b, above the
    largest deterministic mean M; the mass Π_b F_b(M) goes to the arms tied at M."""
    mean, scale, mask = (np.asarray(v, np.float64) for v in (mean, scale, mask))
    mask = mask.astype(bool)
    rand, det = mask & (scale > 0), mask & (scale <= 0)
    floor = mean[det].max() if det.any() else -np.inf
    x = np.unique(np.concatenate([mean[b] + scale[b] * np.linspace(-width, width, n)
                                  for b in np.flatnonzero(rand)] + [[floor]]))
    x = x[x >= floor] if np.isfinite(floor) else x[1:]
    x = np.pad(x, (0, K * n + 1 - len(x)), mode="edge")  # one shape: one compile
    with jax.enable_x64(True):
        log_f = np.asarray(_log_cdfs(x, mean, scale, rand))
    total = log_f.sum(1)
    out = np.zeros(len(mean))
    for a in np.flatnonzero(rand):
        dens = np.exp(-0.5 * ((x - mean[a]) / scale[a]) ** 2) / (scale[a] * np.sqrt(2 * np.pi))
        out[a] = np.trapezoid(dens * np.exp(total - log_f[:, a]), x)
    if det.any():
        tied = det & (mean == floor)
        out[tied] = np.exp(total[0]) / tied.sum()
    return out


def pad(mean, scale, mask=None):
    k = len(mean)
    mask = np.ones(k, bool) if mask is None else np.asarray(mask, bool)
    return (np.pad(np.asarray(mean, np.float32), (0, K - k), constant_values=9.0),
            np.pad(np.asarray(scale, np.float32), (0, K - k), constant_values=1.0),
            np.pad(mask, (0, K - k)))


HARD = {
    "ratio 100, equal means": ([0.0, 0.0], [1.0, 0.01]),
    "ratio 100, offset": ([0.0, 0.3, -0.2], [1.0, 0.01, 0.01]),
    "ratio 1000 and 100": ([0.1, 0.0, 0.05, -0.3], [0.001, 1.0, 0.01, 0.5]),
    "new arm beside explored ones": ([0.0, 0.52, 0.5, 0.49, 0.45, 0.5, 0.51, 0.48, 0.47,
                                      0.5], [1.0] + [0.01] * 9),
    "far apart, p ~ 1e-6": ([0.0, 6.73], [1.0, 1.0]),
    "far apart, K = 10": (list(np.linspace(-8, 1, 10)), [0.5] * 10),
    "masked best arm": ([0.0, 3.0, 0.2, 5.0], [1.0, 0.1, 0.5, 0.01], [1, 0, 1, 0]),
    "deterministic arms": ([0.5, 0.0, 0.5, 0.2], [0.0, 1.0, 0.0, 0.0]),
    "all deterministic, ties": ([1.0, 2.0, 2.0, 0.0, 2.0], [0.0] * 5),
    "deterministic above all": ([3.0, 0.0, 0.1], [0.0, 0.5, 0.01]),
}


def random_cases(n, seed):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        k = int(rng.integers(2, K + 1))
        mean = rng.normal(0, [0.3, 3.0][i % 2], k)
        scale = np.where(rng.random(k) < 0.5, 10 ** rng.uniform(-3, -2, k),
                         rng.uniform(0.3, 2, k))
        scale = np.where(rng.random(k) < 0.15, 0.0, scale)
        mask = rng.random(k) < 0.85
        mask[0] = True
        cases.append((mean, scale, mask))
    return cases


@pytest.fixture(scope="module")
def batch_probs():
    """One vmapped program over every case: (cases, their probs)."""
    cases = [tuple(c) for c in HARD.values()] + random_cases(40, 0)
    arrays = [np.stack(col) for col in zip(*(pad(*c) for c in cases))]
    fn = jax.jit(jax.vmap(gaussian_argmax_probs))
    return arrays, np.asarray(fn(*map(jnp.asarray, arrays)), np.float64)


def test_matches_the_float64_reference_on_hard_cases(batch_probs):
    (mean, scale, mask), probs = batch_probs
    names = list(HARD) + [f"random {i}" for i in range(len(mean) - len(HARD))]
    errors = {}
    for name, m, s, mk, p in zip(names, mean, scale, mask, probs):
        want = reference(m, s, mk)
        errors[name] = np.abs(p - want).max()
        np.testing.assert_allclose(p.sum(), 1.0, atol=1e-5)
        assert (p[~mk] == 0).all(), name  # masked arms exactly 0
    assert max(errors.values()) <= TOL, {k: v for k, v in errors.items() if v > TOL}


def test_ties_and_deterministic_arms_are_exact(batch_probs):
    (mean, scale, _), probs = batch_probs
    names = list(HARD)
    p = probs[names.index("all deterministic, ties")]
    third = np.float32(1) / 3  # the mass 1 over three tied arms, in float32
    np.testing.assert_array_equal(p[:5], [0, third, third, 0, third])
    p = probs[names.index("deterministic arms")]  # N(0, 1) must beat 0.5; the rest splits
    want = 0.5 * (1 + np.asarray(jax.lax.erf(np.float32(0.5 / np.sqrt(2)))))  # Φ(0.5)
    np.testing.assert_allclose(p[:4], [want / 2, 1 - want, want / 2, 0.0], atol=1e-6)
    assert p[3] == 0
    p = probs[names.index("deterministic above all")]
    assert p[0] > 1 - 1e-6 and p[1] < 1e-6 and p[2] < 1e-30  # P(N(0.1, 0.01²) > 3) ≈ 0


def test_plain_gauss_hermite_would_fail_where_the_union_grid_does_not(batch_probs):
    """16-node Gauss–Hermite in the wide arm's z misses the narrow arm's step by > 0.05."""
    (mean, scale, _), probs = batch_probs
    i = list(HARD).index("ratio 100, offset")
    m, s = mean[i][:3].astype(np.float64), scale[i][:3].astype(np.float64)
    z, w = np.polynomial.hermite_e.hermegauss(16)
    w = w / w.sum()
    x = m[0] + s[0] * z  # P(arm 0) = E_z[Π_b Φ((x − m_b)/s_b)]
    cdf = np.frompyfunc(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)), 1, 1)
    inner = cdf((x[:, None] - m[1:]) / s[1:]).astype(np.float64).prod(1)
    crude = (w * inner).sum()
    exact = reference(m, s, np.ones(3, bool))[0]
    assert abs(crude - exact) > 0.05
    assert abs(probs[i][0] - exact) <= TOL


def test_the_chosen_arm_has_a_positive_propensity():
    """The deciding draw picks an arm whose true probability is ~1e-33, below float32, or
    whose draw beat two deterministic arms: its propensity stays positive, and tiny."""
    mean = np.array([[0.0, -12.0, 0.0], [0.0, -40.0, 0.0], [0.0, -5.0, 0.0]], np.float32)
    scale = np.array([[0.1, 1.0, 1.0], [0.01, 1.0, 1.0], [0.0, 0.5, 0.0]], np.float32)
    z = np.array([[-1.0, 14.0, 0.0], [0.0, 41.0, 0.0], [0.0, 10.1, 0.0]], np.float32)
    mask = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1]], bool)
    noise = {"z": jnp.asarray(z), "tiebreak": jnp.zeros(3)}
    dec = jax.jit(jax.vmap(gaussian_thompson, in_axes=(0, 0, 0, 0, None)),
                  static_argnums=4)(mean, scale, noise, jnp.asarray(mask), 10)
    probs = np.asarray(dec.probs)
    assert (np.asarray(dec.action) == 1).all()
    assert (probs[:, 1] > 0).all() and (probs[:, 1] < 1e-12).all(), probs
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    assert (probs[~mask] == 0).all()


def test_lin_ts_decides_on_the_same_draw():
    """lin_ts acts greedily on mean + v·sqrt(xᵀA⁻¹x)·z with z from the first of three keys
    split from the round's key, as before the probabilities were computed by quadrature."""
    n_arms, dim, n = 5, 3, 256
    p = bandits.make("lin_ts", n_arms, dim, v=0.7)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(n_arms, dim, dim))
    a_inv = np.einsum("kij,klj->kil", a, a) / dim + 0.1 * np.eye(dim)
    state = RidgeState(jnp.asarray(a_inv, jnp.float32),
                       jnp.asarray(rng.normal(size=(n_arms, dim)), jnp.float32))
    x = jnp.asarray(rng.normal(size=dim), jnp.float32)
    keys = jax.random.split(jax.random.key(4), n)
    dec = jax.jit(jax.vmap(p.act, in_axes=(None, None, 0, None, None)))(
        p.default_params, state, keys, x, jnp.ones(n_arms, bool))
    mean = np.asarray(state.theta) @ np.asarray(x)
    sd = 0.7 * np.sqrt(np.einsum("i,kij,j->k", x, a_inv, x))
    z = np.asarray(jax.jit(jax.vmap(
        lambda k: jax.random.normal(jax.random.split(k, 3)[0], (n_arms,))))(keys))
    np.testing.assert_array_equal(np.asarray(dec.action), np.argmax(mean + sd * z, -1))
    freq = np.bincount(np.asarray(dec.action), minlength=n_arms) / n
    assert np.abs(np.asarray(dec.probs).mean(0) - freq).max() < 0.15


@pytest.mark.parametrize("tiny", [1.5e-6, 1e-9, 1e-30])
def test_a_nearly_deterministic_arm_gives_finite_exact_probabilities(tiny):
    """An arm with scale 1.5e-6 beside arms of scale ~0.5 (NeuralLinear's head on a
    feature vector it has seen many times) once made the cells' hazards underflow to
    NaN: the probabilities must be finite and those of the deterministic limit,
    P(arm 1 wins) = Φ(0.002/0.5)·Φ(−0.002/0.5)."""
    mean = jnp.array([0.0, 0.001, 0.002], jnp.float32)
    scale = jnp.array([0.5, tiny, 0.5], jnp.float32)
    p = np.asarray(gaussian_argmax_probs(mean, scale, jnp.ones(3, bool)))
    want = reference(np.asarray(mean, np.float64), np.array([0.5, 0.0, 0.5]),
                     np.ones(3, bool))
    np.testing.assert_allclose(p, want, atol=TOL)
    assert np.isfinite(p).all() and abs(p[1] - 0.2499975) < 1e-5
