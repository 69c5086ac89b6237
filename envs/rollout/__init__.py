"""Staged-rollout studies: a candidate rolled out against an incumbent along the
playbook's schedule (:func:`bandits.staged.staged_rollout`), over a grid of known true
lifts; outcomes across thousands of simulated rollouts, their table and figure."""
