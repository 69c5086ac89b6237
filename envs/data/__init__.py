"""Logged bandit data: the logged-data types, their checks and conversions, log
generators, ground truth, decision-log files, reward attribution, the deployment gate's
loading and the Open Bandit Dataset."""
