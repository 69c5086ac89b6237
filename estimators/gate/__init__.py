"""The deployment gate: should a candidate policy replace the one that wrote the logs?

On a held-out split of logged decisions, each candidate's value is estimated off-policy
(DR by default, with IPS, SNIPS and DM beside it), every estimate with a percentile
bootstrap interval. The logging policy's value is the held-out rewards' mean — exact for
the policy that produced them — and it is resampled together with the candidate's
estimates, so the lift ((candidate − logging) / |logging|, in %) gets a paired interval
and a paired p-value. Diagnostics say how far the data supports the candidate: effective sample
size of the importance weights, their maximum, the share of rows with a non-zero weight,
and the candidate's probability mass on arms the logging policy never takes (known
exactly when the logs carry its full distribution, otherwise arms absent from the held-out
logs) or that were not eligible.

The recommendation is an explicit, configurable rule (:class:`GateRule`); the report lists
every condition with its measured value, so a "do not ship" says why.

* :mod:`estimators.gate.statistics` — the numbers of one candidate and the rule;
* :mod:`estimators.gate.report` — the terminal table, ``report.md``, the figure;
* :mod:`estimators.gate.driver` — candidates, the time split, :func:`run_gate` and
  :func:`run_from_config`.
"""

from estimators.gate.driver import (
    CONFIG_KEYS,
    EVALUATION_KEYS,
    load_candidate,
    parse_candidates,
    run_from_config,
    run_gate,
    time_split,
)
from estimators.gate.report import (
    describe_rule,
    format_markdown,
    format_table,
    plot_report,
    write_report,
)
from estimators.gate.statistics import (
    DEFAULT_ESTIMATORS,
    GateRule,
    apply_rule,
    decision_probs,
    diagnostics,
    evaluate_candidate,
    reward_model_predictions,
)

__all__ = [
    "CONFIG_KEYS", "DEFAULT_ESTIMATORS", "EVALUATION_KEYS", "GateRule", "apply_rule",
    "decision_probs", "describe_rule", "diagnostics", "evaluate_candidate", "format_markdown",
    "format_table", "load_candidate", "parse_candidates", "plot_report",
    "reward_model_predictions", "run_from_config", "run_gate", "time_split", "write_report",
]
