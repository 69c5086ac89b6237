"""Open Bandit Dataset loader: values against a plain csv.reader parse, encodings, errors.

``tests/data/obd_mini`` (first 300 rows of the random and bts logs of campaign ``all``)
is always there; tests on the full 10,000-row sample skip when ``../shared/data/obd`` is
absent.
"""

import collections
import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import envs  # noqa: F401  (sets XLA flags before any JAX computation)
from envs.data.obd import (
    BEHAVIOR_POLICIES,
    CAMPAIGNS,
    MissingDataError,
    action_distribution_by_position,
    load_open_bandit,
    merge_vocabularies,
)

REPO = Path(__file__).resolve().parents[3]
MINI = REPO / "tests" / "data" / "obd_mini"
FULL = (REPO / ".." / "shared" / "data" / "obd").resolve()
needs_full = pytest.mark.skipif(not FULL.is_dir(), reason=f"full Open Bandit sample not at "
                                f"{FULL} (../shared/data/obd relative to the repository)")
N_ITEMS = {"all": 80, "men": 34, "women": 46}


def parse(path):
    """Columns of a csv file as lists of strings, with csv.reader."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return {name: [r[j] for r in rows[1:]] for j, name in enumerate(rows[0])}


def utc(s):
    return np.datetime64(dt.datetime.fromisoformat(s).astimezone(dt.UTC).replace(tzinfo=None),
                         "us")


@pytest.fixture(scope="module", params=BEHAVIOR_POLICIES)
def mini(request):
    bp = request.param
    raw = parse(MINI / bp / "all" / "all.csv")
    items = parse(MINI / bp / "all" / "item_context.csv")
    return load_open_bandit(str(MINI), bp, "all"), raw, items


def test_arrays_equal_a_csv_reader_parse(mini):
    obd, raw, _ = mini
    n = len(raw["item_id"])
    assert n == 300 and obd.n_rows == 300 and obd.n_items == 80 == obd.data.n_arms
    np.testing.assert_array_equal(obd.data.action, [int(v) for v in raw["item_id"]])
    assert obd.data.action.dtype == np.int32
    np.testing.assert_array_equal(obd.position, [int(v) - 1 for v in raw["position"]])
    assert obd.position.dtype == np.int32 and set(obd.position) == {0, 1, 2}
    assert obd.n_positions == 3
    np.testing.assert_array_equal(obd.data.reward, [float(v) for v in raw["click"]])
    np.testing.assert_array_equal(obd.data.pscore, [float(v) for v in raw["propensity_score"]])
    assert obd.timestamp.dtype == np.dtype("datetime64[us]")
    np.testing.assert_array_equal(obd.timestamp, [utc(s) for s in raw["timestamp"]])
    assert (np.diff(obd.timestamp) >= np.timedelta64(0)).all()  # logs are in time order
    # affinities: the last 80 context columns, in item order
    aff = np.array([[float(raw[f"user-item_affinity_{k}"][i]) for k in range(80)]
                    for i in range(n)], np.float32)
    np.testing.assert_array_equal(obd.data.context[:, -80:], aff)
    assert obd.feature_names[-80:] == [f"user-item_affinity_{k}" for k in range(80)]
    # one-hot user features, categories sorted, in feature order
    col = 0
    for j in range(4):
        values = raw[f"user_feature_{j}"]
        cats = sorted(set(values))
        assert obd.vocabulary[f"user_feature_{j}"] == tuple(cats)
        want = np.array([[v == c for c in cats] for v in values], np.float32)
        np.testing.assert_array_equal(obd.data.context[:, col:col + len(cats)], want)
        assert obd.feature_names[col:col + len(cats)] == [f"user_feature_{j}={c}"
                                                          for c in cats]
        col += len(cats)
    assert obd.data.context.shape == (300, col + 80) == (300, len(obd.feature_names))
    assert obd.data.context.dtype == np.float32


def test_item_context_equals_a_csv_reader_parse(mini):
    obd, _, items = mini
    ids = [int(v) for v in items["item_id"]]
    order = np.argsort(ids)
    assert obd.item_context.shape[0] == 80 and obd.item_context.dtype == np.float32
    assert obd.item_feature_names[0] == "item_feature_0"
    num = np.array([float(v) for v in items["item_feature_0"]], np.float32)[order]
    np.testing.assert_array_equal(obd.item_context[:, 0], num)
    col = 1
    for j in (1, 2, 3):
        values = [items[f"item_feature_{j}"][i] for i in order]
        cats = sorted(set(values))
        want = np.array([[v == c for c in cats] for v in values], np.float32)
        np.testing.assert_array_equal(obd.item_context[:, col:col + len(cats)], want)
        col += len(cats)
    assert obd.item_context.shape[1] == col == len(obd.item_feature_names)


def test_propensities():
    """Random logging: every propensity is exactly 1/n_items (not 1/(n_items·slots));
    bts: Thompson-sampling propensities that vary from row to row."""
    rnd = load_open_bandit(MINI, "random", "all")
    np.testing.assert_array_equal(rnd.data.pscore, np.full(300, 1 / 80))
    bts = load_open_bandit(MINI, "bts", "all")
    p = bts.data.pscore
    assert ((p > 0) & (p <= 1)).all() and len(np.unique(p)) > 200
    assert p.min() < 1 / 80 < p.max()


def decode(obd):
    """Category strings back from the one-hot blocks (None for an all-zero block)."""
    out, col = {}, 0
    for name, cats in obd.vocabulary.items():
        block = obd.data.context[:, col:col + len(cats)]
        idx = block.argmax(1)
        out[name] = [cats[i] if block[r].any() else None for r, i in enumerate(idx)]
        col += len(cats)
    return out


def test_one_hot_round_trip(mini):
    obd, raw, _ = mini
    col = 0
    for cats in obd.vocabulary.values():
        sums = obd.data.context[:, col:col + len(cats)].sum(1)
        np.testing.assert_array_equal(sums, 1.0)  # exactly one category per row
        col += len(cats)
    for name, values in decode(obd).items():
        assert values == raw[name]


def test_shared_vocabulary():
    rnd = load_open_bandit(MINI, "random")
    bts = load_open_bandit(MINI, "bts")
    # in these 300 rows bts has a user_feature_1 category random never shows
    assert set(bts.vocabulary["user_feature_1"]) - set(rnd.vocabulary["user_feature_1"])
    assert rnd.data.context.shape[1] != bts.data.context.shape[1]
    with pytest.raises(ValueError, match="user_feature_1.*outside the given vocabulary"):
        load_open_bandit(MINI, "bts", vocabulary=rnd.vocabulary)
    vocab = merge_vocabularies(rnd.vocabulary, bts.vocabulary)
    r2 = load_open_bandit(MINI, "random", vocabulary=vocab)
    b2 = load_open_bandit(MINI, "bts", vocabulary=vocab)
    assert r2.feature_names == b2.feature_names
    assert r2.data.context.shape == (300, sum(map(len, vocab.values())) + 80)
    assert decode(r2) == decode(rnd) and decode(b2) == decode(bts)
    # unknown categories as all-zero blocks
    b3 = load_open_bandit(MINI, "bts", vocabulary=rnd.vocabulary, handle_unknown="ignore")
    unseen = ~np.isin(parse(MINI / "bts/all/all.csv")["user_feature_1"],
                      rnd.vocabulary["user_feature_1"])
    assert 0 < unseen.sum() < 300
    assert [v is None for v in decode(b3)["user_feature_1"]] == unseen.tolist()
    np.testing.assert_array_equal(b3.data.context[:, -80:], bts.data.context[:, -80:])
    # without affinities only the one-hot blocks remain
    short = load_open_bandit(MINI, "bts", include_affinity=False)
    np.testing.assert_array_equal(short.data.context, bts.data.context[:, :-80])


def test_action_distribution_by_position(mini):
    obd, raw, _ = mini
    d = action_distribution_by_position(obd)
    assert d.shape == (3, 80)
    np.testing.assert_allclose(d.sum(1), 1.0, rtol=0, atol=1e-12)
    counts = collections.Counter(zip(raw["position"], raw["item_id"]))
    per_slot = collections.Counter(raw["position"])
    for (pos, item), c in counts.items():
        assert d[int(pos) - 1, int(item)] == c / per_slot[pos]
    assert (d > 0).sum() == len(counts)


def test_bad_paths_and_names(tmp_path):
    with pytest.raises(MissingDataError, match="directory not found.*nowhere"):
        load_open_bandit(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"random/men/men\.csv"):
        load_open_bandit(MINI, "random", "men")  # the fixture holds campaign "all" only
    with pytest.raises(ValueError, match=r"behavior_policy must be one of random, bts, "
                                         r"got 'ts'"):
        load_open_bandit(MINI, "ts")
    with pytest.raises(ValueError, match=r"campaign must be one of all, men, women, got 'kids'"):
        load_open_bandit(MINI, "random", "kids")
    with pytest.raises(ValueError, match="handle_unknown must be one of error, ignore"):
        load_open_bandit(MINI, handle_unknown="drop")
    with pytest.raises(ValueError, match="vocabulary has no categories for user_feature_0"):
        load_open_bandit(MINI, vocabulary={})
    # a file without its item table
    (tmp_path / "random" / "all").mkdir(parents=True)
    (tmp_path / "random" / "all" / "all.csv").write_bytes(
        (MINI / "random" / "all" / "all.csv").read_bytes())
    with pytest.raises(MissingDataError, match=r"expected .*random/all/item_context\.csv"):
        load_open_bandit(tmp_path)


def test_bad_values(tmp_path):
    src = MINI / "random" / "all"
    dst = tmp_path / "random" / "all"
    dst.mkdir(parents=True)
    (dst / "item_context.csv").write_bytes((src / "item_context.csv").read_bytes())
    lines = (src / "all.csv").read_text().splitlines(keepends=True)
    cells = lines[5].split(",")
    cells[2] = "80"  # item id out of range
    (dst / "all.csv").write_text("".join(lines[:5] + [",".join(cells)] + lines[6:]))
    with pytest.raises(ValueError, match=r"action must be in \[0, 79\]; row 4 has 80"):
        load_open_bandit(tmp_path)
    cells = lines[5].split(",")
    cells[5] = "0"  # zero propensity
    (dst / "all.csv").write_text("".join(lines[:5] + [",".join(cells)] + lines[6:]))
    with pytest.raises(ValueError, match=r"pscore must be in \(0, 1\]; row 4 has 0.0"):
        load_open_bandit(tmp_path)


# ---------------------------------------------------------------- full sample


@needs_full
@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_full_sample(campaign):
    for bp in BEHAVIOR_POLICIES:
        obd = load_open_bandit(FULL, bp, campaign)
        k = N_ITEMS[campaign]
        assert obd.n_rows == 10_000 and obd.n_items == k and obd.n_positions == 3
        assert obd.item_context.shape[0] == k
        raw = parse(FULL / bp / campaign / f"{campaign}.csv")
        assert obd.data.reward.sum() == sum(int(v) for v in raw["click"]) > 0
        np.testing.assert_array_equal(obd.data.pscore,
                                      [float(v) for v in raw["propensity_score"]])
        d = action_distribution_by_position(obd)
        np.testing.assert_allclose(d.sum(1), 1.0, rtol=0, atol=1e-12)
        if bp == "random":
            np.testing.assert_array_equal(obd.data.pscore, 1 / k)
            # uniform logging: per-slot item counts pass a chi-square check (df = k - 1)
            n_slot = np.bincount(obd.position)[:, None]
            chi2 = ((d * n_slot - n_slot / k) ** 2 / (n_slot / k)).sum(1)
            assert (chi2 < (k - 1) + 5 * np.sqrt(2 * (k - 1))).all(), chi2


@needs_full
def test_mini_is_the_head_of_the_full_sample():
    for bp in BEHAVIOR_POLICIES:
        full = load_open_bandit(FULL, bp, "all")
        mini = load_open_bandit(MINI, bp, "all", vocabulary=full.vocabulary)
        np.testing.assert_array_equal(mini.data.context, full.data.context[:300])
        np.testing.assert_array_equal(mini.data.pscore, full.data.pscore[:300])
        np.testing.assert_array_equal(mini.item_context, full.item_context)
