"""The panels study: one regret study per world, overrides per panel, the table
normalised by a chosen bandit, its files, and its config checks (before any run)."""

import json
import os

import pytest

from envs.regret.panels import panel_configs, run

BASE = {"study": {"kind": "panels", "n_seeds": 4, "n_rounds": 60, "progress": False,
                  "compilation_cache": False},
        "bandit": {"uniform": {}, "lin_ucb": {"alpha": 1.0}},
        "panels_bandit": {"lin_ucb": {"alpha": 2.0}, "lin_ts": {"v": 3.0}},
        "panels_normalise_by": "uniform",
        "panels": {"small": {"name": "linear-gaussian", "n_arms": 3, "dim": 2},
                   "wheel": {"env": {"name": "wheel", "delta": 0.5},
                             "bandit": {"lin_ucb": {"alpha": 20.0}}}}}


def test_each_panel_gets_its_world_and_overrides():
    configs = panel_configs(BASE)
    assert configs["small"]["env"]["name"] == "linear-gaussian"
    assert configs["small"]["bandit"]["lin_ucb"] == {"alpha": 2.0}  # shared override
    assert configs["wheel"]["bandit"]["lin_ucb"] == {"alpha": 20.0}  # the panel's own
    assert "lin_ts" not in configs["wheel"]["bandit"]  # not selected: not run
    assert configs["wheel"]["study"].get("kind") is None


def test_the_study_runs_every_panel_and_normalises_by_uniform(tmp_path):
    result = run(BASE, str(tmp_path), echo=False)
    panels = result["summary"]["panels"]
    assert list(panels) == ["small", "wheel"]
    for rows in (p["results"] for p in panels.values()):
        uniform = next(r for r in rows if r["policy"] == "uniform")
        lin = next(r for r in rows if r["policy"] == "lin_ucb")
        assert uniform["normalised"] == 1.0
        assert lin["normalised"] == pytest.approx(lin["final_regret_mean"]
                                                  / uniform["final_regret_mean"])
    for name in ("panels.png", "summary.md", "summary.json"):
        assert os.path.getsize(tmp_path / name) > 0
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["panels"]["wheel"]["env"]["delta"] == 0.5
    assert "| lin_ucb |" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("change, message", [
    ({"panels": {}}, "panels must map a panel's name"),
    ({"panels": {"a": {"delta": 0.5}}}, "panels.a must be a world's config with a name"),
    ({"panels": {"a": {"name": "wheel", "delta": 1.5}}}, r"panels.a: .*delta"),
    ({"panels_bandit": {"lin_ucbb": {}}}, "panels_bandit.lin_ucbb is not a bandit"),
    ({"panels_normalise_by": "lin_ts"}, "panels_normalise_by must be one of the selected"),
])
def test_bad_panel_configs_stop_before_any_run(change, message):
    with pytest.raises(ValueError, match=message):
        panel_configs({**BASE, **change})
