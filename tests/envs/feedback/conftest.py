"""The shared rollouts of the feedback tests, as fixtures (defined in feedback_runs.py)."""

from feedback_runs import (  # noqa: F401
    drifting,
    eps_fixed,
    lin_fixed,
    lin_plain,
    reference,
    ucb1_geometric,
)
