"""Off-policy estimators (ope.py) and their confidence intervals (bootstrap.py)."""
