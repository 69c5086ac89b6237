"""Regret-curve studies from a config, their reports and their figures."""
