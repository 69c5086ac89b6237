"""The number of arms K of a log and the arm ids in words.

K is declared (the reader's ``n_arms``, the file's metadata ``bandax.n_arms``), stated by
the length of ``scores``, or inferred from the largest arm id of the rows kept; how it was
found travels into the load report and every message that depends on it.
"""

from __future__ import annotations

import numpy as np

from common.errors import DataError
from envs.data.events.schema import N_ARMS_KEY


class ArmCount:
    """What is known of K while a log is read.

    Attributes:
        n_arms: the declared K, or None.
        k_source: ``"config"``, ``"file metadata"`` or ``"inferred"``.
        k_from: where K came from, in words (None until known).
        scores_len: the length every scores row must have: the declared K, or the length
            of the first scores row, or None.
        scores_from: the row that set ``scores_len`` when K is not declared.
    """

    def __init__(self, n_arms: int | None, declared: int | None):
        if n_arms is not None:
            self.n_arms, self.k_source, self.k_from = n_arms, "config", "load.n_arms"
        elif declared is not None:
            self.n_arms, self.k_source = declared, "file metadata"
            self.k_from = f"{N_ARMS_KEY.decode()} in the file's metadata"
        else:  # the length of scores, once seen, or inferred at the end
            self.n_arms, self.k_source, self.k_from = None, "inferred", None
        self.scores_len = self.n_arms
        self.scores_from = None

    @property
    def known(self) -> int | None:
        """K as far as it is known: declared, or the scores' length, or None."""
        return self.scores_len or None

    def note_scores(self, lengths: np.ndarray, filled: np.ndarray, row0: int) -> None:
        """Takes the scores' length from the first filled row when K is not yet known;
        ``filled`` holds the batch rows with scores, ``row0`` the batch's first row."""
        if self.scores_len is None and len(filled):
            first = int(filled[0])
            self.scores_len, self.scores_from = int(lengths[first]), row0 + first
            self.k_from = f"the length of scores (as in row {self.scores_from})"

    def scores_rule(self) -> str:
        """The scores-length rule as a message says it."""
        k = self.scores_len
        if k is None:
            return "scores must have one value per arm"
        if self.scores_from is not None:
            src = f"as in row {self.scores_from}"
        elif self.k_source == "config":
            src = f"load.n_arms={k}"
        else:
            src = f"{N_ARMS_KEY.decode()}={k} in the file's metadata"
        return f"scores must have {k} values, one per arm ({src})"

    def final(self, path: str, action: np.ndarray, top_eligible: int,
              has_scores: bool) -> int:
        """K for the rows kept: declared, the length of scores, or 1 + the largest arm id
        in ``action`` (n,) and the eligible sets (``top_eligible``: 1 + their largest id);
        sets ``k_source`` and ``k_from``."""
        if self.n_arms is not None:
            return self.n_arms
        top_action = int(action.max()) + 1
        k = max(top_action, top_eligible)
        if has_scores and self.scores_len:
            if self.scores_len < k:
                raise DataError(f"{path}: scores have {self.scores_len} values per "
                                f"row (as in row {self.scores_from}) but arm ids go up to "
                                f"{k - 1}; declare the number of arms with load.n_arms=K")
            self.k_source = "file metadata"
            return self.scores_len
        field = "eligible_actions" if top_eligible > top_action else "action"
        self.k_from = f"1 + the largest {field} id {k - 1}"
        return k


def id_runs(ids, limit: int = 10) -> str:
    """Sorted ids with runs of consecutive ids as ``a..b``: ``0, 2..98``; after ``limit``
    runs, ``...``."""
    ids = np.sort(np.asarray(ids, np.int64))
    if not len(ids):
        return ""
    cut = np.flatnonzero(np.diff(ids) != 1) + 1
    starts, ends = ids[np.r_[0, cut]], ids[np.r_[cut - 1, len(ids) - 1]]
    runs = [f"{a}" if a == e else f"{a}..{e}" for a, e in zip(starts[:limit], ends[:limit])]
    return ", ".join(runs) + (", ..." if len(starts) > limit else "")


def arms_line(report: dict, declared: int | None) -> str | None:
    """The line ``read_events`` prints about K: always when K was inferred, otherwise
    when some arm has no rows or the file declares another count than load.n_arms."""
    k, source, empty = report["n_arms"], report["n_arms_source"], report["arms_without_rows"]
    differs = source == "config" and declared is not None and declared != k
    if source != "inferred" and not empty and not differs:
        return None
    line = f"arms: {k}, "
    if source == "inferred":
        line += f"inferred as {report['n_arms_from']} (declare it with load.n_arms=K)"
    else:
        line += f"from {report['n_arms_from']}"
    if differs:
        line += f" (the file's metadata declares {N_ARMS_KEY.decode()}={declared})"
    if empty:
        many = len(empty) != 1
        line += (f"; {len(empty)} arm id{'s' if many else ''} {'have' if many else 'has'} "
                 f"no rows: {id_runs(empty)}")
    return line
