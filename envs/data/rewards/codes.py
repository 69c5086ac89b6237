"""The settings and status codes of reward attribution: how several rewards combine, and
what became of each decision and each reward event."""

from __future__ import annotations

from enum import IntEnum

COMBINE = ("sum", "max", "first", "last")
DECISION_STATUS = ("matched", "filled", "pending", "missing")
REWARD_STATUS = ("matched_by_id", "matched_by_window", "late", "unmatched",
                 "unknown_event_id")


class DecisionStatus(IntEnum):
    """``Attribution.status`` codes, one per decision."""

    MATCHED = 0  # at least one reward event attributed (by id or by window)
    FILLED = 1  # no reward, window closed: reward = missing_reward
    PENDING = 2  # no reward yet, window still open at `now`: reward NaN
    MISSING = 3  # no reward, window closed, missing_reward=None: reward NaN


class RewardStatus(IntEnum):
    """``Attribution.reward_status`` codes, one per reward event."""

    MATCHED_BY_ID = 0  # its event_id names a decision
    MATCHED_BY_WINDOW = 1  # no event_id; its user's latest decision is inside the window
    LATE = 2  # no event_id; its user's latest earlier decision is older than the window
    UNMATCHED = 3  # no event_id; its user has no decision at or before it
    UNKNOWN_EVENT_ID = 4  # its event_id names no decision
