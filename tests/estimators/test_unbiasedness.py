"""IPS and DR are unbiased, DM with a misspecified model is not (2,000 datasets)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.data.generate import simulate_logs
from envs.data.truth import policy_value
from estimators import ope


@pytest.mark.slow
def test_ips_and_dr_unbiased_dm_misspecified_biased():
    w = envs.make("linear-gaussian", n_arms=4, dim=3, noise_std=0.5)
    p = w.sample_params(jax.random.key(0))

    def logging(x, m):  # a soft behaviour policy that prefers the good arms
        return jax.nn.softmax(jnp.where(m, jnp.sum(p.theta * x, -1), -jnp.inf))

    def target(x, m):  # ε-greedy on the truth: close to, but not, the logging policy
        mu = jnp.where(m, jnp.sum(p.theta * x, -1), -jnp.inf)
        best = (mu == jnp.max(mu)).astype(jnp.float32)
        return 0.8 * best + 0.2 * m / jnp.sum(m)

    truth = policy_value(w, p, target, jax.random.key(1), n_contexts=400_000, batch=100_000)
    M, n = 2000, 300
    logs = simulate_logs(w, p, logging, jax.random.key(2), n_rows=n, n_datasets=M)
    pi_e = jax.vmap(jax.vmap(target))(logs.context, logs.mask)
    # a misspecified reward model: right slope for arm 0 only, zero elsewhere
    q_hat = logs.expected_reward * jnp.array([1.0, 0.0, 0.0, 0.0])

    def estimates(c, a, r, ps, pe, q):
        rows = ope.rows(r, a, ps, pe, q)
        return jnp.stack([ope.ipw(rows).value, ope.dr(rows).value, ope.dm(rows).value])

    est = np.asarray(jax.vmap(estimates)(logs.context, logs.action, logs.reward, logs.pscore,
                                         pi_e, q_hat))
    mean, se = est.mean(0), est.std(0, ddof=1) / np.sqrt(M)
    err = np.sqrt(se**2 + float(truth.std_error) ** 2)
    ips, dr, dm = (mean - float(truth.value)) / err
    assert abs(ips) < 3, (mean, float(truth.value), se)
    assert abs(dr) < 3, (mean, float(truth.value), se)
    assert abs(dm) > 10, (mean, float(truth.value), se)  # DM inherits the model's bias
