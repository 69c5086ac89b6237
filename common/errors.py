"""The two kinds of mistake a user can make, told apart in every message.

Both are ``ValueError`` subclasses, so code that catches ``ValueError`` keeps working; the
command-line entry points print ``config error:`` or ``data error:`` accordingly.
"""


class ConfigError(ValueError):
    """A setting is wrong: an unknown key, a value out of range, a missing option."""


class DataError(ValueError):
    """The data is wrong: a row, a column or a file does not satisfy the schema."""
