"""What evaluating before the attribution window closes does to a policy's value.

    python scripts/early_evaluation.py [--env logistic-bernoulli] [--bandit lin_eps_greedy]
        [--delay geometric] [--delay-mean 20] [--window 100] [--seeds 100] [--rounds 2000]
        [--out DIR]

A policy runs on a click world with delayed rewards; each seed's log goes through the
reward collector at several times after the last decision, and the value estimates are
compared with the value once every window has closed (envs/regret/early_evaluation.py).
Writes summary.json, summary.md and early_evaluation.png.
"""

from __future__ import annotations

import argparse
import os
import time

import bandits
import envs  # noqa: F401  (XLA flags before JAX starts)
from envs.feedback import DELAY_KINDS, Feedback
from envs.regret import early_evaluation
from envs.worlds import registry


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="logistic-bernoulli")
    p.add_argument("--bandit", default="lin_eps_greedy")
    p.add_argument("--delay", default="geometric", choices=[k for k in DELAY_KINDS
                                                            if k != "none"])
    p.add_argument("--delay-mean", type=float, default=20.0)
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    env = registry.make(a.env)
    policy = bandits.make(a.bandit, env.n_arms, env.dim)
    feedback = Feedback(a.delay, delay_mean=a.delay_mean, attribution_window=a.window)
    out = a.out or os.path.join("outputs", "early_evaluation",
                                time.strftime("%Y-%m-%d_%H-%M-%S"))
    summary = early_evaluation.run(policy, env, feedback, n_seeds=a.seeds,
                                   n_rounds=a.rounds, seed=a.seed, out_dir=out)
    print(early_evaluation.markdown(summary))
    print(f"wrote {os.path.abspath(out)}/: summary.json, summary.md, early_evaluation.png")


if __name__ == "__main__":
    main()
