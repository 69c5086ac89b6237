"""Real-data check on the Open Bandit Dataset: the bts policy's click rate, off-policy.

    python scripts/obd_check.py --obd-path ../shared/data/obd [--boot 1000] [--md out.md]

For each campaign (all, men, women): the Bernoulli Thompson sampling (bts) policy's action
distribution per slot is read off its own logs (the frequency of each item in each slot);
its click rate is then estimated off-policy from the uniform-random logs with IPS, SNIPS
and DR (cross-fitted ridge reward model on the user features and affinities), each with a
95% bootstrap interval, and compared with the click rate actually observed in the bts
logs. The Open Bandit Dataset is CC BY 4.0 (Saito et al., NeurIPS 2021 Datasets and
Benchmarks).
"""

from __future__ import annotations

import argparse
import json

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402, F401  (XLA flags before JAX starts)
from envs.data.obd import CAMPAIGNS, action_distribution_by_position, load_open_bandit  # noqa: E402
from estimators import ope, reward_models  # noqa: E402
from estimators import registry as est_registry  # noqa: E402
from estimators.bootstrap import bootstrap_replicates  # noqa: E402

# (label, registry name): each runs at the hyperparameters of conf/estimator/<name>.yaml
ESTIMATORS = (("IPS", "ipw"), ("SNIPS", "snipw"), ("DR", "dr"))
REWARD_MODEL = reward_models.default_config()


def check(path: str, campaign: str, n_boot: int, seed: int = 0) -> dict:
    bts = load_open_bandit(path, "bts", campaign)
    random = load_open_bandit(path, "random", campaign)
    dist = action_distribution_by_position(bts)  # (slots, items)
    if dist.shape[1] != random.data.n_arms:
        raise ValueError(f"{campaign}: bts logs have {dist.shape[1]} items, random logs "
                         f"{random.data.n_arms}")
    target = dist[random.position]  # π_bts(a | slot of row i)
    key = jax.random.key(seed)
    q_hat = reward_models.out_of_fold(REWARD_MODEL, jax.random.fold_in(key, 1),
                                      random.data.context, random.data.action,
                                      random.data.reward, random.data.n_arms)
    rows = ope.rows(random.data.reward.astype(np.float32), random.data.action,
                    random.data.pscore.astype(np.float32), target.astype(np.float32), q_hat)
    fns = [est_registry.make(name) for _, name in ESTIMATORS]
    stat = lambda r: jnp.stack([f(r).value for f in fns])
    est = np.asarray(stat(rows), np.float64)
    reps = np.asarray(jax.jit(lambda r, k: bootstrap_replicates(stat, r, k, n_boot))(
        rows, jax.random.fold_in(key, 2)))
    lo, hi = np.quantile(reps, [0.025, 0.975], axis=0)
    clicks = bts.data.reward.astype(np.float64)
    on_policy = clicks.mean()
    se = clicks.std(ddof=1) / np.sqrt(clicks.size)
    out = {"campaign": campaign, "random_rows": random.data.n_rows,
           "random_clicks": int(random.data.reward.sum()), "bts_rows": bts.data.n_rows,
           "bts_clicks": int(clicks.sum()), "observed_ctr": on_policy,
           "observed_ctr_interval": [on_policy - 1.96 * se, on_policy + 1.96 * se],
           "estimates": {}}
    for j, (name, reg_name) in enumerate(ESTIMATORS):
        out["estimates"][name] = {
            "estimator": reg_name, "hyperparameters": est_registry.hyperparameters(reg_name),
            "value": float(est[j]), "lower": float(lo[j]), "upper": float(hi[j]),
            "relative_error": float(abs(est[j] - on_policy) / on_policy),
            "covers_observed": bool(lo[j] <= on_policy <= hi[j])}
    return out


def markdown(results: list[dict]) -> str:
    lines = ["| campaign | bts CTR observed (95% CI) | " + " | ".join(
        f"{n} estimate [95% CI] | {n} rel. error" for n, _ in ESTIMATORS) + " |",
             "|---|---|" + "---|---|" * len(ESTIMATORS)]
    for r in results:
        lo, hi = r["observed_ctr_interval"]
        cells = [r["campaign"], f"{r['observed_ctr']:.5f} ({lo:.5f}–{hi:.5f}); "
                 f"{r['bts_clicks']} clicks / {r['bts_rows']:,}"]
        for n, _ in ESTIMATORS:
            e = r["estimates"][n]
            cells += [f"{e['value']:.5f} [{e['lower']:.5f}, {e['upper']:.5f}]",
                      f"{e['relative_error']:.1%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    from tqdm.auto import tqdm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--obd-path", required=True, help="the Open Bandit Dataset directory")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--campaign", action="append", choices=CAMPAIGNS,
                    help="campaigns to check (repeatable; default: all three)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--md", help="write the markdown table here")
    args = ap.parse_args()
    campaigns = args.campaign or list(CAMPAIGNS)
    print("estimators: " + "; ".join(
        f"{label} = {est_registry.describe(n, est_registry.hyperparameters(n))}"
        for label, n in ESTIMATORS) + f"; reward model {reward_models.describe(REWARD_MODEL)}")
    try:
        results = [check(args.obd_path, c, args.boot)
                   for c in tqdm(campaigns, desc="campaigns", unit="campaign")]
    except ValueError as err:
        ap.error(str(err))
    table = markdown(results)
    print(table)
    for path, text in ((args.json, json.dumps(results, indent=1)), (args.md, table + "\n")):
        if path:
            with open(path, "w") as f:
                f.write(text)
    written = [p for p in (args.json, args.md) if p]
    print(f"wrote {', '.join(written)}" if written else
          "nothing written (give --json and/or --md to keep the results)")


if __name__ == "__main__":
    main()
