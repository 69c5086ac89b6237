"""Logged bandit data: the logged-data type and its checks, log generators, ground truth,
decision-log files, reward attribution and the Open Bandit Dataset."""
