"""Write a simulated deployment as a decision log (the schema of docs/events.md).

    python scripts/simulate_log.py logs.parquet                  # 100,000 rows, softmax logging
    python scripts/simulate_log.py logs.csv --rows 20000 --logging lin_eps_greedy \\
        --param epsilon=0.1                                      # a bandit logged as it learns
    python scripts/simulate_log.py logs.jsonl --world logistic-bernoulli --arms 20 --dim 20

The file goes through the same reader, validation and deployment gate as a production
log (``python scripts/evaluate.py data=logs.parquet candidate=lin_ucb``); the world's true
values are printed so the gate's estimates can be checked against them.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402  (XLA flags before JAX starts)
from envs.deployment import simulate_deployment  # noqa: E402
from envs.events import events_from_logged, write_events  # noqa: E402


def _param(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param takes key=value, got {text!r}")
    return key, float(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output file: .parquet, .csv or .jsonl")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--world", default="logistic-bernoulli")
    ap.add_argument("--arms", type=int, default=10)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--logging", default="softmax",
                    help="uniform, softmax (over the true means) or an algorithm of bandits/")
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--param", type=_param, action="append", default=[],
                    help="hyperparameter of a bandit logging policy, key=value")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reward-delay", type=float, default=30.0, help="seconds")
    args = ap.parse_args()
    if args.rows < 1:
        ap.error(f"--rows must be >= 1, got {args.rows}")
    kw = {"base_logit": -2.0, "scale": 2.0} if args.world == "logistic-bernoulli" else {}
    try:
        env = envs.make(args.world, n_arms=args.arms, dim=args.dim, **kw)
        data, meta = simulate_deployment(env, args.rows, logging=args.logging,
                                         temperature=args.temperature,
                                         bandit_params=dict(args.param), seed=args.seed)
    except ValueError as err:
        ap.error(str(err))
    rng = np.random.default_rng(args.seed)
    users = np.char.add(b"u", rng.integers(0, max(1, args.rows // 20), args.rows)
                        .astype("S8"))
    columns = events_from_logged(data, policy_version=meta["policy_version"],
                                 algorithm=meta["algorithm"], exploration=meta["exploration"],
                                 start=np.datetime64("2026-01-01T00:00:00", "us"),
                                 interval_s=0.5, user_id=users,
                                 reward_delay_s=args.reward_delay)
    write_events(args.out, columns)
    mu = np.asarray(jax.vmap(lambda x: env.mean_rewards(
        env.sample_params(jax.random.key(0)), (), x))(data.context))
    print(f"wrote {data.n_rows:,} decisions to {args.out} ({args.world}, K={args.arms}, "
          f"d={args.dim}, logging {meta['policy_version']})")
    print(f"mean reward {data.reward.mean():.5f}; best arm's mean in these contexts "
          f"{mu.max(1).mean():.5f}")


if __name__ == "__main__":
    main()
