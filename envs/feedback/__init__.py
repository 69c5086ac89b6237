"""How rewards reach a policy: delays, a censoring (attribution) window, and the cadence at
which the served model is refreshed (:class:`Feedback`). The engine
(:func:`envs.engine.simulate`) reads it; this package holds only its description, its
random delays and the per-lane buffer of pending rewards."""

from envs.feedback.spec import DELAY_KINDS, Feedback, FeedbackParams

__all__ = ["DELAY_KINDS", "Feedback", "FeedbackParams"]
