"""What a regret study reports: grid points named by their swept values, curves.csv at the
checkpoints, and one combined table after a multirun."""

import csv
import json
from types import SimpleNamespace

import numpy as np
from omegaconf import OmegaConf

from envs.regret.report import CURVE_COLUMNS, CombineSummaries, label, write_curves


def _grid_rollout():
    """LinUCB at alpha 0.1 and 1 (reg not swept): 4 seeds, 10 rounds, 3 checkpoints."""
    T, S = 10, 4
    mean = np.stack([np.arange(1, T + 1, dtype=float), 2 * np.arange(1, T + 1)])  # (G, T)
    checkpoints = np.array([1, 5, 10])
    seed_regret = mean[:, None, checkpoints - 1] + np.arange(S)[None, :, None]  # (G, S, C)
    return SimpleNamespace(
        policy="lin_ucb", rounds=np.arange(1, T + 1), mean_regret=mean,
        std_regret=np.ones_like(mean), checkpoints=checkpoints,
        grid={"alpha": np.array([0.1, 1.0]), "reg": np.array([1.0, 1.0])},
        quantiles=lambda q: np.quantile(seed_regret, np.asarray(q), axis=1))


def test_grid_points_are_named_by_their_swept_values():
    r = _grid_rollout()
    assert [label(r, g) for g in range(2)] == ["lin_ucb(alpha=0.1)", "lin_ucb(alpha=1)"]
    r.grid = {"reg": np.array([1.0, 1.0])}
    assert label(r, 0) == "lin_ucb"


def test_curves_csv_has_a_row_per_grid_point_and_checkpoint(tmp_path):
    path = tmp_path / "curves.csv"
    write_curves(str(path), [_grid_rollout()])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == CURVE_COLUMNS
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("lin_ucb(alpha=0.1)", "1", "1"), ("lin_ucb(alpha=0.1)", "5", "5"),
        ("lin_ucb(alpha=0.1)", "10", "10"), ("lin_ucb(alpha=1)", "1", "2"),
        ("lin_ucb(alpha=1)", "5", "10"), ("lin_ucb(alpha=1)", "10", "20")]
    assert rows[-1][4:] == ["20.075", "20.75", "21.5", "22.25", "22.925"]  # seeds 20..23


def test_a_multirun_gets_one_combined_table(tmp_path, capsys):
    """One row per job, with the overrides that are the job's own (not shared by all)."""
    for job, env in (("0", "linear-gaussian"), ("1", "slice-sum")):
        (tmp_path / job / ".hydra").mkdir(parents=True)
        name = env.replace("-", "_")
        (tmp_path / job / ".hydra" / "overrides.yaml").write_text(
            f"- env={name}\n- study.n_seeds=3\n")
        result = {"algorithm": "lin_ucb", "final_regret_mean": 12.34, "final_regret_std": 5.0,
                  "runtime_s": 0.25, "n_seeds": 3, "n_rounds": 24}
        (tmp_path / job / "summary.json").write_text(json.dumps({"env": env,
                                                                  "results": [result]}))
    CombineSummaries().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {
        "dir": str(tmp_path)}}}))
    with open(tmp_path / "combined_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["overrides"], r["env"], r["algorithm"]) for r in rows] == [
        ("0", "env=linear_gaussian", "linear-gaussian", "lin_ucb"),
        ("1", "env=slice_sum", "slice-sum", "lin_ucb")]
    md = (tmp_path / "combined_summary.md").read_text().splitlines()
    assert md[:2] == ["| job | overrides | env | algorithm | final regret | std | run s |",
                      "|---|---|---|---|---|---|---|"]
    assert md[2] == "| 0 | env=linear_gaussian | linear-gaussian | lin_ucb | 12.3 | 5.0 | 0.25 |"
    assert "| 1 | env=slice_sum | slice-sum |" in capsys.readouterr().out
