"""Settings shared by several test files (importable because pytest's ``pythonpath``
includes ``tests/``)."""

# a small network with non-default training settings (every neural policy)
NEURAL = {"hidden": 4, "depth": 2, "buffer": 16, "train_every": 3, "n_steps": 2, "batch": 4,
          "optimizer": "sgd", "arm_features": 0, "lr": 0.05, "weight_decay": 0.1}
# Non-default values of every hyperparameter, so a policy that ignored one would show.
NONDEFAULT_HYPER = {
    "uniform": {},
    "eps_greedy": {"epsilon": 0.3, "initial_value": 0.2},
    "softmax": {"temperature": 0.4, "initial_value": 0.2},
    "ucb1": {"c": 0.7},
    "ts_gaussian": {"prior_mean": 0.1, "prior_std": 1.5, "noise_std": 0.8,
                    "n_prob_nodes": 8},
    "ts_beta": {"a0": 1.2, "b0": 0.8, "n_prob_draws": 16},
    "lin_ucb": {"alpha": 0.6, "reg": 0.8},
    "lin_ts": {"v": 0.7, "reg": 1.2, "n_prob_nodes": 8},
    "lin_eps_greedy": {"epsilon": 0.25, "reg": 0.5},
    "discounted_lin_ucb": {"gamma": 0.9, "alpha": 0.6, "reg": 0.8},
    "discounted_ucb": {"gamma": 0.9, "xi": 0.7, "bound": 0.8},
    "sliding_window_ucb": {"xi": 0.7, "bound": 0.8, "window": 8},
    "discounted_ts": {"gamma": 0.9, "a0": 1.2, "b0": 0.8, "n_prob_draws": 16},
    "decaying_eps_greedy": {"epsilon0": 0.6, "decay": 5.0},
    "restart_lin_ucb": {"alpha": 0.6, "reg": 0.8, "threshold": 3.0, "tolerance": 0.1},
    "lin_ucb_shared": {"alpha": 0.6, "reg": 0.8, "arm_features": 0},
    "lin_ts_shared": {"v": 0.7, "reg": 1.2, "n_prob_nodes": 8, "arm_features": 0},
    "neural_eps_greedy": {"epsilon": 0.3, **NEURAL},
    "neural_linear": {"v": 0.7, "reg": 1.3, "n_prob_nodes": 8, **NEURAL},
    "neural_ucb": {"gamma": 0.8, "reg": 0.9, **NEURAL},
    "neural_ts": {"nu": 0.6, "reg": 1.1, "n_prob_nodes": 8, **NEURAL},
}
