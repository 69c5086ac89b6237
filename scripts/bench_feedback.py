"""What worlds that change, late rewards, batched refreshes and monitors cost the rollout
engine.

    python scripts/bench_feedback.py                 # LinUCB, 1,000 seeds × 2,000 rounds
    python scripts/bench_feedback.py --policies lin_ucb,lin_ts --cases stationary,fixed_100
    python scripts/bench_feedback.py --cases geometric_20 --group-lanes 32   # lane groups
    python scripts/bench_feedback.py --cases stationary,monitored   # the default monitor

Every case runs the same policy on the linear-Gaussian world (K = 5, d = 10) through the
public ``simulate`` API in this process; each figure is the median of ``--repeat`` runs
(each compiles, then runs), and the ratio is each case's run time over the stationary,
undelayed case's. The ``monitored`` cases keep every KPI and alert rule of
``conf/monitor/default.yaml`` in every lane; ``monitored_outcomes`` only its rules that
read no action distribution (reward, action shares, contexts), which a Thompson-sampling
policy otherwise computes every round (by quadrature over its Gaussian scores).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import yaml

import bandits
import envs  # noqa: F401  (XLA flags before JAX starts)
from envs.engine import EngineOptions, simulate
from envs.feedback import Feedback
from envs.monitor import monitor_spec
from envs.worlds import registry

WINDOW = 100  # the longest delay, in rounds: every delayed case's attribution window
MONITOR = "conf/monitor/default.yaml"
CASES = {  # name -> (drift kind and options or None, Feedback or None[, monitored])
    "stationary": (None, None),
    "monitored": (None, None, True),
    "monitored_outcomes": (None, None, "outcomes"),
    "monitored_fixed_100": (None, Feedback("fixed", delay_mean=WINDOW), True),
    "abrupt": (("abrupt", {"rate": 0.001}), None),
    "gradual_walk": (("gradual", {"rate": 0.005}), None),
    "gradual_rotate": (("gradual", {"rate": 0.0005, "mode": "rotate"}), None),
    "fixed_100": (None, Feedback("fixed", delay_mean=WINDOW)),
    "geometric_20": (None, Feedback("geometric", delay_mean=20,
                                    attribution_window=WINDOW)),
    "mixture_2_50": (None, Feedback("mixture", delay_mean=2, slow_mean=50, slow_share=0.2,
                                    attribution_window=WINDOW)),
    "refresh_10": (None, Feedback(update_every=10)),
    "geometric_20_refresh_10": (None, Feedback("geometric", delay_mean=20,
                                               attribution_window=WINDOW, update_every=10)),
}


def world(drift):
    base = registry.make("linear-gaussian")
    return base if drift is None else registry.make_drift(drift[0], base, **drift[1])


# the default rules whose KPIs read no action distribution (error_rate validates it)
OUTCOME_KPIS = ("avg_reward", "max_share", "share_entropy", "context_drift")


def default_monitor(outcomes_only: bool = False):
    """The monitor of ``conf/monitor/default.yaml`` (only its rules on outcomes)."""
    with open(MONITOR) as f:
        spec = monitor_spec(yaml.safe_load(f))
    if outcomes_only:
        spec = replace(spec, rules=tuple(r for r in spec.rules if r.kpi in OUTCOME_KPIS))
    return spec


def run_case(policy_name: str, case: str, n_seeds: int, n_rounds: int, repeat: int,
             group_lanes: int = 64) -> dict:
    """The median of ``repeat`` runs of one case, ``group_lanes`` lanes advancing
    together."""
    drift, feedback, *monitored = CASES[case]
    env = world(drift)
    policy = bandits.make(policy_name, env.n_arms, env.dim)
    options = EngineOptions(group_lanes=group_lanes)
    monitor = default_monitor(monitored[0] == "outcomes") if monitored else None
    runs = [simulate(policy, env, n_rounds=n_rounds, n_seeds=n_seeds, feedback=feedback,
                     options=options, monitor=monitor) for _ in range(repeat)]
    run_s = float(np.median([r.run_s for r in runs]))
    return {"policy": policy_name, "case": case, "seeds": n_seeds, "rounds": n_rounds,
            "compile_s": float(np.median([r.compile_s for r in runs])), "run_s": run_s,
            "agent_rounds_per_s": n_seeds * n_rounds / run_s,
            "final_regret": float(runs[0].final_regret.mean())}


def markdown(rows: list[dict]) -> str:
    base = {r["policy"]: r["run_s"] for r in rows if r["case"] == "stationary"}
    lines = ["| policy | case | seeds | rounds | compile / set-up s | run s | agent-rounds/s "
             "| cost vs stationary |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['run_s'] / base[r['policy']]:.2f}×" if r["policy"] in base else "–"
        lines.append(f"| {r['policy']} | {r['case']} | {r['seeds']:,} | {r['rounds']:,} | "
                     f"{r['compile_s']:.2f} | {r['run_s']:.3f} | "
                     f"{r['agent_rounds_per_s']:,.0f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policies", default="lin_ucb")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--group-lanes", type=int, default=64,
                   help="lanes of a device that advance together (the engine's default: 64)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    cases = a.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    print(f"# {a.seeds:,} seeds × {a.rounds:,} rounds, linear-Gaussian K = 5, d = 10; "
          f"delays up to {WINDOW} rounds; medians of {a.repeat} runs\n", flush=True)
    rows = []
    for policy in a.policies.split(","):
        for case in cases:
            rows.append(run_case(policy, case, a.seeds, a.rounds, a.repeat, a.group_lanes))
            print(f"  {policy} {case}: {rows[-1]['agent_rounds_per_s']:,.0f} agent-rounds/s",
                  flush=True)
    print()
    print(markdown(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
