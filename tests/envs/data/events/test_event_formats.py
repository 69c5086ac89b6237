"""The one choice of file format: by extension, naming the setting that gave the path, and
whole small files read as tables in every format."""

import json

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import ConfigError
from envs.data.events import file_format, read_table
from envs.data.events.formats import open_sink, open_source


def test_the_extension_chooses_the_format():
    assert [file_format(p) for p in ("a.parquet", "b.CSV", "dir.x/c.jsonl")] == [
        "parquet", "csv", "jsonl"]
    with pytest.raises(ConfigError, match=r"^unknown log format '.txt' for 'a.txt': use "
                                          r"\.parquet, \.csv or \.jsonl$"):
        file_format("a.txt")
    with pytest.raises(ConfigError, match=r"^rewards.path: unknown log format '\(none\)'"):
        file_format("rewards", "rewards.path")
    with pytest.raises(ConfigError, match="unknown log format '.json'"):
        open_source("log.json", 10)
    with pytest.raises(ConfigError, match="unknown log format '.tsv'"):
        open_sink("log.tsv", pa.schema([("a", pa.int64())]), 1)


def test_small_files_are_read_whole_in_every_format(tmp_path):
    table = pa.table({"user_id": ["007", "12"], "value": [1.5, 0.0]})
    pq.write_table(table, tmp_path / "r.parquet")
    pcsv.write_csv(table, tmp_path / "r.csv")
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    for fmt in ("parquet", "csv", "jsonl"):
        got = read_table(str(tmp_path / f"r.{fmt}"), string_columns=("user_id",))
        assert got.to_pydict() == table.to_pydict(), fmt
    as_numbers = read_table(str(tmp_path / "r.csv"))  # CSV cells typed as Arrow infers them
    assert as_numbers["user_id"].to_pylist() == [7, 12]
