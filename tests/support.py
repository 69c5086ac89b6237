"""Settings shared by several test files (importable because pytest's ``pythonpath``
includes ``tests/``)."""

# Non-default values of every hyperparameter, so a policy that ignored one would show.
NONDEFAULT_HYPER = {
    "uniform": {},
    "eps_greedy": {"epsilon": 0.3, "initial_value": 0.2},
    "softmax": {"temperature": 0.4, "initial_value": 0.2},
    "ucb1": {"c": 0.7},
    "ts_gaussian": {"prior_mean": 0.1, "prior_std": 1.5, "noise_std": 0.8,
                    "n_prob_draws": 32},
    "ts_beta": {"a0": 1.2, "b0": 0.8, "n_prob_draws": 16},
    "lin_ucb": {"alpha": 0.6, "reg": 0.8},
    "lin_ts": {"v": 0.7, "reg": 1.2, "n_prob_draws": 32},
    "lin_eps_greedy": {"epsilon": 0.25, "reg": 0.5},
}
