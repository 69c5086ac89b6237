"""Write a simulated deployment as a decision log (the schema of docs/events.md).

    python scripts/simulate_log.py logs.parquet                  # 100,000 rows, softmax logging
    python scripts/simulate_log.py logs.csv --rows 20000 --logging lin_eps_greedy \\
        --param epsilon=0.1                                      # a bandit logged as it learns
    python scripts/simulate_log.py logs.jsonl --world logistic-bernoulli --arms 20 --dim 20
    python scripts/simulate_log.py clicks.csv --no-reward 0.2 --invalid 0.001

The file goes through the same reader, validation and deployment gate as a production
log (``python scripts/evaluate.py data=logs.parquet candidate=lin_ucb``); the world's true
values are printed so the gate's estimates can be checked against them.
"""

from __future__ import annotations

import argparse
import math
import os

FORMATS = (".parquet", ".csv", ".jsonl")
FIXED_POLICIES = ("uniform", "softmax")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """The docstring's examples as written, every option with its default."""


class Parser(argparse.ArgumentParser):
    """Errors as one line, ``simulate_log.py: error: ...``, exit status 2."""

    def error(self, message: str):
        """Exits with status 2 after one line naming the problem."""
        self.exit(2, f"{self.prog}: error: {message} (--help for usage)\n")


def _param(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    try:
        if not sep or not key:
            raise ValueError
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes key=number, got {text!r}") from None


def parser() -> Parser:
    """The command line (every option with its default in ``--help``)."""
    ap = Parser(description=__doc__, formatter_class=HelpFormatter)
    ap.add_argument("out", help="output file: " + ", ".join(FORMATS))
    ap.add_argument("--rows", type=int, default=100_000, help="decisions to log")
    ap.add_argument("--world", default="logistic-bernoulli",
                    help="a world of envs/ (linear-gaussian, logistic-bernoulli, slice-sum)")
    ap.add_argument("--arms", type=int, default=10, help="number of arms (>= 2)")
    ap.add_argument("--dim", type=int, default=10, help="context features")
    ap.add_argument("--logging", default="softmax",
                    help="logging policy: uniform, softmax (over the true means) or an "
                         "algorithm of bandits/, logged as it learns")
    ap.add_argument("--temperature", type=float, default=0.5,
                    help="softmax logging policy's temperature (> 0)")
    ap.add_argument("--param", type=_param, action="append", default=[],
                    help="hyperparameter of a bandit logging policy, key=value (repeatable)")
    ap.add_argument("--seed", type=int, default=0, help="the log's random seed")
    ap.add_argument("--reward-delay", type=float, default=30.0,
                    help="seconds between a decision and its reward")
    ap.add_argument("--no-reward", type=float, default=0.0,
                    help="share of decisions whose reward never arrived (written as null, "
                         "e.g. clicks that never came: read them with load.missing_reward=0)")
    ap.add_argument("--invalid", type=float, default=0.0,
                    help="share of rows written with a broken propensity (0), to try "
                         "load.on_invalid=reject")
    return ap


def check(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments (before anything is simulated), or None."""
    ext = os.path.splitext(args.out)[1].lower()
    folder = os.path.dirname(os.path.abspath(args.out))
    if ext not in FORMATS:
        return (f"unknown output format {ext or '(none)'!r} for {args.out!r}: use "
                + ", ".join(FORMATS))
    if not os.path.isdir(folder):
        return f"the folder of {args.out!r} does not exist: {folder}"
    if os.path.isdir(args.out):
        return f"{args.out!r} is a folder; give a file name ending in " + ", ".join(FORMATS)
    for name, value, low in (("--rows", args.rows, 1), ("--arms", args.arms, 2),
                             ("--dim", args.dim, 1), ("--seed", args.seed, 0)):
        if value < low:
            return f"{name} must be >= {low}, got {value}"
    if args.seed > 2**31 - 1:
        return f"--seed must be < 2**31, got {args.seed}"
    if not (math.isfinite(args.temperature) and args.temperature > 0):
        return f"--temperature must be a finite number > 0, got {args.temperature}"
    for name, value in (("--no-reward", args.no_reward), ("--invalid", args.invalid)):
        if not 0 <= value < 1:
            return f"{name} must be a share in [0, 1), got {value}"
    if not (math.isfinite(args.reward_delay) and args.reward_delay >= 0):
        return f"--reward-delay must be a finite number >= 0 (seconds), got {args.reward_delay}"
    if args.param and args.logging in FIXED_POLICIES:
        return (f"--param sets a bandit logging policy's hyperparameters; --logging "
                f"{args.logging} has none (softmax takes --temperature)")
    return None


def check_names(args: argparse.Namespace) -> str | None:
    """Whether ``--world`` and ``--logging`` name a world and a logging policy."""
    import bandits
    import envs

    worlds = [w for w in envs.names() if w != "supervised"]  # it needs a dataset
    if args.world not in worlds:
        return f"--world must be one of {', '.join(worlds)}, got {args.world!r}"
    if args.logging not in (*FIXED_POLICIES, *bandits.names()):
        return (f"--logging must be {', '.join(FIXED_POLICIES)} or an algorithm of bandits/ "
                f"({', '.join(bandits.names())}), got {args.logging!r}")
    return None


def simulate(args: argparse.Namespace):
    """The world, its logged data and the logging policy's description."""
    import envs
    from envs.data.generate import simulate_deployment

    kw = {"base_logit": -2.0, "scale": 2.0} if args.world == "logistic-bernoulli" else {}
    env = envs.make(args.world, n_arms=args.arms, dim=args.dim, **kw)
    data, meta = simulate_deployment(env, args.rows, logging=args.logging,
                                     temperature=args.temperature,
                                     bandit_params=dict(args.param), seed=args.seed)
    return env, data, meta


def write(args: argparse.Namespace, data, meta) -> None:
    """Writes the decision log (users: one per 20 decisions, drawn at random)."""
    import numpy as np

    from envs.data.events import events_from_logged, write_events

    rng = np.random.default_rng(args.seed)
    users = np.char.add(b"u", rng.integers(0, max(1, args.rows // 20), args.rows)
                        .astype("S8"))
    columns = events_from_logged(data, policy_version=meta["policy_version"],
                                 algorithm=meta["algorithm"], exploration=meta["exploration"],
                                 start=np.datetime64("2026-01-01T00:00:00", "us"),
                                 interval_s=0.5, user_id=users,
                                 reward_delay_s=args.reward_delay)
    damage(columns, rng, args.no_reward, args.invalid)
    write_events(args.out, columns)


def damage(columns: dict, rng, no_reward: float, invalid: float) -> None:
    """Blanks the reward of a ``no_reward`` share of rows and breaks the propensity of an
    ``invalid`` share (disjoint random rows), as production logs have them."""
    import numpy as np

    n = len(columns["action"])
    rows = rng.permutation(n)
    lost, bad = rows[:round(no_reward * n)], rows[n - round(invalid * n):] if invalid else []
    columns["reward"] = np.array(columns["reward"], np.float64)
    columns["reward"][lost] = np.nan
    columns["reward_timestamp"] = np.array(columns["reward_timestamp"])
    columns["reward_timestamp"][lost] = np.datetime64("NaT")
    columns["propensity"] = np.array(columns["propensity"], np.float64)
    columns["propensity"][bad] = 0.0


def main() -> None:
    """Checks every argument, simulates, writes the log and prints the world's truth."""
    ap = parser()
    args = ap.parse_args()
    problem = check(args) or check_names(args)
    if problem:
        ap.error(problem)
    try:
        env, data, meta = simulate(args)
        write(args, data, meta)
    except ValueError as err:
        ap.error(str(err))
    except OSError as err:
        ap.error(f"cannot write {args.out!r}: {err}")
    import jax
    import numpy as np

    mu = np.asarray(jax.vmap(lambda x: env.mean_rewards(
        env.sample_params(jax.random.key(0)), (), x))(data.context))
    print(f"wrote {data.n_rows:,} decisions to {args.out} ({args.world}, K={args.arms}, "
          f"d={args.dim}, logging {meta['policy_version']}); rewards never arrived: "
          f"{round(args.no_reward * args.rows):,}, broken propensities: "
          f"{round(args.invalid * args.rows):,}")
    print(f"mean reward {data.reward.mean():.5f}; best arm's mean in these contexts "
          f"{mu.max(1).mean():.5f}")


if __name__ == "__main__":
    main()
