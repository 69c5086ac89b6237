"""Write a simulated deployment as a decision log (the schema of docs/events.md).

    python scripts/simulate_log.py logs.parquet                  # 100,000 rows, softmax logging
    python scripts/simulate_log.py logs.csv --rows 20000 --logging lin_eps_greedy \\
        --param epsilon=0.1                                      # a bandit logged as it learns
    python scripts/simulate_log.py logs.jsonl --world logistic-bernoulli --arms 20 --dim 20
    python scripts/simulate_log.py clicks.csv --no-reward 0.2 --invalid 0.001
    python scripts/simulate_log.py logs.parquet --delay geometric --delay-mean 600 \\
        --window-s 3600 --read-at end     # + logs.rewards.parquet, read as the log ends
    python scripts/simulate_log.py logs_by_hour --partitioned hour   # hour=.../part-0.parquet

The file goes through the same reader, validation and deployment gate as a production
log (``python scripts/evaluate.py data=logs.parquet candidate=lin_ucb``); the world's true
values are printed so the gate's estimates can be checked against them.

With ``--delay`` other than none, rewards arrive apart from the decisions, as production
reward events do: the decision log has no rewards, and ``<out stem>.rewards<ext>`` holds
one reward event per decision (``event_id``, ``user_id``, ``timestamp``, ``value``) stamped
a drawn delay later. Rewards later than ``--window-s`` are never written (censored), nor,
with ``--read-at``, those not arrived by then. The script prints the gate's command that
joins the two files.
"""

from __future__ import annotations

import argparse
import math
import os

FORMATS = (".parquet", ".csv", ".jsonl")
FIXED_POLICIES = ("uniform", "softmax")
DELAYS = ("none", "fixed", "geometric", "lognormal")
START = "2026-01-01T00:00:00"  # the first decision's time
INTERVAL_S = 0.5  # seconds between decisions; drawn delays are whole multiples of it
GATE_WINDOW_S = 86_400.0  # the gate's default rewards.window_s


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
    ap.add_argument("out", help="output file: " + ", ".join(FORMATS)
                    + " (a directory with --partitioned)")
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
    ap.add_argument("--delay", choices=DELAYS, default="none",
                    help="reward delays drawn per decision; other than none, rewards are "
                         "written apart, to <out stem>.rewards<ext>")
    ap.add_argument("--delay-mean", type=float, default=None,
                    help="mean delay in seconds (required with --delay)")
    ap.add_argument("--delay-sigma", type=float, default=None,
                    help="standard deviation of log(delay), --delay lognormal (1 if not "
                         "given)")
    ap.add_argument("--window-s", type=float, default=None,
                    help="attribution window in seconds: later rewards are never written "
                         f"(with --delay; not given: the gate's {GATE_WINDOW_S:g})")
    ap.add_argument("--partitioned", choices=("day", "hour"), default=None,
                    help="write a directory of Parquet files, one per day or hour "
                         "(hive partitions date=... or hour=...), for the streamed gate")
    ap.add_argument("--read-at", default=None,
                    help="ISO time, or end (the last decision): only rewards arrived by "
                         "then are written (not given: all)")
    return ap


def check_partitioned(args: argparse.Namespace, ext: str, folder: str) -> str | None:
    """The first problem with ``--partitioned`` and its output directory, or None."""
    if ext:
        return f"--partitioned writes a directory; give a name without an extension, not " \
               f"{args.out!r}"
    if os.path.exists(args.out):
        return f"{args.out!r} already exists; --partitioned writes a new directory"
    if not os.path.isdir(folder):
        return f"the folder of {args.out!r} does not exist: {folder}"
    if args.delay != "none":
        return "--partitioned writes decisions with their rewards (--delay none)"
    return None


def check(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments (before anything is simulated), or None."""
    ext = os.path.splitext(args.out)[1].lower()
    folder = os.path.dirname(os.path.abspath(args.out))
    if args.partitioned:
        return check_partitioned(args, ext, folder)
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
    return check_delay(args) or check_read_at(args)


def check_delay(args: argparse.Namespace) -> str | None:
    """The first problem with ``--delay``, ``--delay-mean``, ``--delay-sigma`` and
    ``--window-s``, or None."""
    given = [name for name, v in (("--delay-mean", args.delay_mean),
                                  ("--delay-sigma", args.delay_sigma),
                                  ("--window-s", args.window_s)) if v is not None]
    if args.delay == "none":
        return (f"{given[0]} needs --delay fixed, geometric or lognormal (--reward-delay sets "
                "the one delay of a log with its rewards)") if given else None
    if args.delay_mean is None:
        return f"--delay {args.delay} needs --delay-mean SECONDS, the mean delay"
    if not (math.isfinite(args.delay_mean) and args.delay_mean > 0):
        return f"--delay-mean must be a finite number > 0 (seconds), got {args.delay_mean}"
    if args.delay == "fixed" and args.delay_mean / INTERVAL_S != round(args.delay_mean /
                                                                      INTERVAL_S):
        return (f"--delay-mean must be a multiple of {INTERVAL_S:g} s (the time between "
                f"decisions) with --delay fixed, got {args.delay_mean}")
    if args.delay_sigma is not None and args.delay != "lognormal":
        return f"--delay-sigma is for --delay lognormal, not --delay {args.delay}"
    if args.delay_sigma is not None and not (math.isfinite(args.delay_sigma)
                                             and 0 < args.delay_sigma <= 10):
        return f"--delay-sigma must be a number in (0, 10], got {args.delay_sigma}"
    if args.window_s is not None and not (math.isfinite(args.window_s) and args.window_s >= 0):
        return f"--window-s must be a finite number >= 0 (seconds), got {args.window_s}"
    return None


def check_read_at(args: argparse.Namespace) -> str | None:
    """Whether ``--read-at`` is end or an ISO time no earlier than the last decision."""
    if args.read_at is None or args.read_at == "end":
        return None
    from envs.data.validation import parse_timestamp

    try:
        at = parse_timestamp("--read-at", args.read_at)
    except ValueError:
        return f"--read-at must be end or an ISO time (e.g. 2026-01-02T00:00:00), got " \
               f"{args.read_at!r}"
    if at < last_decision(args.rows):
        return (f"--read-at {args.read_at} is before the last decision "
                f"({last_decision(args.rows)}); give end or a later time")
    return None


def last_decision(rows: int):
    """The time of the last of ``rows`` decisions."""
    import numpy as np

    return np.datetime64(START, "us") + np.timedelta64(round((rows - 1) * INTERVAL_S * 1e6),
                                                        "us")


def read_time(args: argparse.Namespace):
    """``--read-at`` as datetime64[us] (end: the last decision), or None."""

    if args.read_at is None:
        return None
    from envs.data.validation import parse_timestamp

    return last_decision(args.rows) if args.read_at == "end" else \
        parse_timestamp("--read-at", args.read_at)


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


def write(args: argparse.Namespace, data, meta) -> dict | None:
    """Writes the decision log (users: one per 20 decisions, drawn at random) and, with
    ``--delay``, the reward events; returns those (None without ``--delay``)."""
    import numpy as np

    from envs.data.delayed import read_at, write_reward_events
    from envs.data.events import events_from_logged, write_events, write_partitioned

    rng = np.random.default_rng(args.seed)
    users = np.char.add(b"u", rng.integers(0, max(1, args.rows // 20), args.rows)
                        .astype("S8"))
    columns = events_from_logged(data, policy_version=meta["policy_version"],
                                 algorithm=meta["algorithm"], exploration=meta["exploration"],
                                 start=np.datetime64(START, "us"),
                                 interval_s=INTERVAL_S, user_id=users,
                                 reward_delay_s=args.reward_delay)
    damage(columns, rng, args.no_reward, args.invalid)
    if args.delay == "none":
        columns = columns if args.read_at is None else read_at(columns, read_time(args))
        if args.partitioned:
            write_partitioned(args.out, columns, by=args.partitioned)
        else:
            write_events(args.out, columns)
        return None
    rewards = reward_events(args, data, columns)
    columns["reward"][:] = np.nan  # the rewards are in the reward-event file
    columns["reward_timestamp"][:] = np.datetime64("NaT")
    write_events(args.out, columns)
    write_reward_events(rewards_path(args.out), rewards)
    return rewards


def rewards_path(out: str) -> str:
    """``<out stem>.rewards<ext>``: where the reward events of ``out`` go."""
    stem, ext = os.path.splitext(out)
    return f"{stem}.rewards{ext}"


def reward_events(args: argparse.Namespace, data, columns: dict) -> dict:
    """The reward events of the logged decisions: one per decision with a drawn delay,
    less those censored by the window, those whose reward never arrived (``--no-reward``)
    and, with ``--read-at``, those not arrived by then. Ids are the decisions' own."""
    import numpy as np

    from envs.data.delayed import delayed_event_tables, draw_delays

    delay = draw_delays(args.delay, args.rows, mean_rounds=args.delay_mean / INTERVAL_S,
                        sigma=1.0 if args.delay_sigma is None else args.delay_sigma,
                        seed=args.seed)
    window = GATE_WINDOW_S if args.window_s is None else args.window_s
    _, rewards = delayed_event_tables(
        np.asarray(data.action), np.asarray(data.reward), np.asarray(data.pscore), delay,
        round_seconds=INTERVAL_S, start=START, window_rounds=math.floor(window / INTERVAL_S))
    keep = np.isfinite(columns["reward"][rewards["round"]])
    if args.read_at is not None:
        keep &= rewards["timestamp"] <= read_time(args)
    out = {k: v[keep] for k, v in rewards.items()}
    out["event_id"] = columns["event_id"][out["round"]]
    out["user_id"] = columns["user_id"][out["round"]]
    return out


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
        rewards = write(args, data, meta)
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
    if rewards is not None:
        print("\n".join(describe_delayed(args, rewards)))


def describe_delayed(args: argparse.Namespace, rewards: dict) -> list[str]:
    """What the reward-event file holds, and the gate's command that reads it with the
    decision log."""
    window = GATE_WINDOW_S if args.window_s is None else args.window_s
    at = read_time(args)
    now = "" if at is None else f" rewards.now={str(at)}"
    sigma = f", sigma {args.delay_sigma or 1.0:g}" if args.delay == "lognormal" else ""
    return [f"wrote {len(rewards['value']):,} reward events to {rewards_path(args.out)} "
            f"({args.delay} delays, mean {args.delay_mean:g} s{sigma}; window {window:g} s; "
            + ("every reward that arrived" if at is None else f"arrived by {at}") + ")",
            "evaluate them together with:",
            f"  python scripts/evaluate.py data={args.out} rewards.path="
            f"{rewards_path(args.out)} rewards.window_s={window:g}{now} candidate=lin_ucb"]


if __name__ == "__main__":
    main()
