"""Off-policy estimators, reward models, bootstrap and estimator studies (planned)."""
