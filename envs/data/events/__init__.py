"""The logged decision event: one row per decision a deployed policy made.

A production log and a simulated deployment share this schema (``docs/events.md``), so
both reach the estimators through one reader and one set of checks:

* **Schema** (:mod:`.schema`): the fields, their types, the rejection reasons and the
  Parquet metadata key ``bandax.n_arms`` under which a known number of arms is declared.
* **Formats** (:mod:`.formats`, :mod:`.parquet`, :mod:`.csv`, :mod:`.jsonl`): the format
  is chosen once, by the file extension; each format reads record batches and writes them.
* **Writing** (:mod:`.write`, :mod:`.columns`): ``EventWriter`` streams batches of NumPy
  columns, ``write_events`` cuts a whole log into such batches;
  :func:`envs.data.logged.events_from_logged` gives the columns of logged data.
* **Reading** (:mod:`.read`): ``read_events`` streams record batches, brings each to one
  set of Arrow types (:mod:`.batch`, :mod:`.cells`), judges every row by per-row rule
  masks (:mod:`.checks`), raises naming the first bad row (:mod:`.messages`) or sets bad
  rows aside (:mod:`.rejects`), keeps the good ones (:mod:`.store`) and finds the number
  of arms (:mod:`.arms`).
* **Streaming** (:mod:`.dataset`): a file or a hive-partitioned directory of Parquet
  files, read one validated batch at a time (logs bigger than memory).
"""

from envs.data.events.arms import id_runs
from envs.data.events.formats import file_format, read_table
from envs.data.events.read import EventLog, read_events
from envs.data.events.schema import FIELDS, N_ARMS_KEY, REASONS, REQUIRED, event_schema
from envs.data.events.write import EventWriter, write_events, write_partitioned
from envs.data.logged import events_from_logged

__all__ = ["FIELDS", "REQUIRED", "REASONS", "N_ARMS_KEY", "event_schema", "EventWriter",
           "write_events", "write_partitioned", "events_from_logged", "EventLog",
           "read_events", "id_runs", "file_format", "read_table"]
