"""Reward collection: joining delayed reward events to the decisions they reward.

A production log records each decision when it is made; its reward (a click, a purchase)
arrives later as a separate event. :func:`attribute_rewards` joins the two streams and
returns one reward per decision, ready for :class:`envs.data.logged.LoggedData`, together
with the status of every decision and of every reward event and a report that accounts for
all of them.

**The join.** A reward event goes to a decision in one of two ways:

- *by event id*: a reward that carries an ``event_id`` goes to the decision with that id,
  whatever its user and timestamp (an exact join; the window plays no part, so a reward
  stamped before its decision, say by a skewed clock, still counts). An id that no
  decision has is an ``unknown_event_id``; such a reward is not retried by window.
- *by user and attribution window*: a reward without an id, at time t, goes to its user's
  *latest* decision at or before t, provided that decision lies in ``[t - window, t]``.
  If the user's latest decision at or before t is older than that, the reward is
  ``late``; if the user has no decision at or before t at all (none, or only later ones),
  it is ``unmatched``. An earlier decision of the user that is also inside the window
  never gets the reward: the latest one does.

**Ties and edges** (timestamps are compared in whole microseconds; ``window_s`` is
rounded to the nearest microsecond):

- a decision and a reward at the same instant: the decision counts as before the reward,
  so it gets it;
- a reward exactly ``window`` after the decision is inside; one microsecond more is late;
- several decisions of one user at the same instant: the one in the latest row is the
  user's latest decision;
- several rewards of one decision are ordered by timestamp, then by row: that order
  decides ``"first"`` and ``"last"``.

**Combining.** The rewards attributed to one decision (by id and by window alike) are
combined by ``combine``: ``"sum"`` (purchases, revenue), ``"max"`` (binary clicks: clicked
at least once), ``"first"`` or ``"last"``. ``reward_timestamp`` is the time of the event
the value was read from: the last reward for ``"sum"`` and ``"last"``, the first for
``"first"`` and the first reward reaching the maximum for ``"max"``.

**Decisions without a reward.** A decision's window is still open while
``now - timestamp < window``: it is ``pending`` (reward NaN) since its reward may still
come. ``now`` defaults to the latest timestamp in either stream, and events stamped at
``now`` are taken to be all in; so at ``now - timestamp == window`` the window is closed.
A decision whose window has closed with no reward gets ``missing_reward`` (status
``filled``, e.g. 0 for "no click"). There is no default for ``missing_reward``: passing
``None`` leaves such decisions without a reward (NaN, status ``missing``) and counts them.
A decision that already has a reward is ``matched`` even while its window is open; the
report counts those (``matched_window_open``), since more rewards may still change their
value. Note also that once a user has a later decision, rewards without an id go to that
one: an earlier decision still pending can then only be reached by id.

Rows with a reward (``np.isfinite(result.reward)``: ``matched`` and ``filled``) are the
ones to evaluate; pending and missing ones carry NaN, which ``LoggedData`` rejects.

**Codes.** ``status`` holds :class:`DecisionStatus` codes (``DECISION_STATUS[code]`` is the
name) and ``reward_status`` :class:`RewardStatus` codes (``REWARD_STATUS[code]``).

**Ids.** ``event_id`` and ``user_id`` may be bytes, str (encoded to UTF-8 bytes when the
other stream has bytes), integers (compared as their decimal text) or objects of those;
an empty id or ``None`` means "not given". Decisions need a non-empty, unique
``event_id``; a decision without a ``user_id`` can be reached by id only. A reward needs
an ``event_id`` or a ``user_id``.

**How it runs.** Everything is array operations, O((n + m) log(n + m)) for n decisions
and m rewards, with no loop over rows. Ids are joined through a sorted copy of the
decisions' ids and ``np.searchsorted`` (queries sorted first, which on large arrays is many
times faster than searching in row order; ids of up to 8 bytes are compared as uint64).
For the window join, users become integer codes (``np.unique``), each decision gets one
int64 key ``user * span + time`` (time in microseconds from the earliest event or, where
that could overflow, the rank of the decision's timestamp), decisions are sorted by it
once, and each reward finds its user's latest decision at or before it with one search.
The rewards of a decision are combined with ``ufunc.reduceat`` over the rewards sorted by
(decision, time). On one core 10⁶ decisions (and 5·10⁵ rewards) take about a second and
10⁷ about 25 s, most of it sorting string ids.
"""

from envs.data.rewards.attribution import Attribution, attribute_rewards
from envs.data.rewards.codes import (
    COMBINE,
    DECISION_STATUS,
    REWARD_STATUS,
    DecisionStatus,
    RewardStatus,
)
from envs.data.rewards.report import format_report

__all__ = ["COMBINE", "DECISION_STATUS", "REWARD_STATUS", "DecisionStatus", "RewardStatus",
           "Attribution", "attribute_rewards", "format_report"]
