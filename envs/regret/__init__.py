"""Regret-curve studies from a config, and their figures."""
