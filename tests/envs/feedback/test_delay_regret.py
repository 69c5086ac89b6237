"""LinUCB's cost of a fixed reward delay d: its extra regret over immediate feedback
grows about linearly in d (each delayed round plays with d fewer observations)."""

import numpy as np
from feedback_runs import DELAYS


def test_lin_ucb_extra_regret_is_about_linear_in_the_delay(lin_fixed):
    r = lin_fixed  # 1,000 rounds, 512 seeds, one grid row per delay
    np.testing.assert_array_equal(r.grid["delay_mean"], DELAYS)
    final = r.seed_regret[..., -1].astype(np.float64)  # (G, S), same seeds on every row
    extra = final.mean(1) - final[0].mean()
    # paired differences against d = 0 share every seed's world and noise
    se = (final[1:] - final[0]).std(1, ddof=1) / np.sqrt(final.shape[1])
    assert (np.diff(extra) > 0).all(), extra
    assert (extra[1:] > 3 * se).all(), (extra, se)  # each delay costs
    slope, intercept = np.polyfit(DELAYS, extra, 1)
    fit = slope * DELAYS + intercept
    r2 = 1 - np.sum((extra - fit) ** 2) / np.sum((extra - extra.mean()) ** 2)
    assert r2 > 0.9, (extra, r2)
    assert slope > 0
