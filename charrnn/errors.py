"""The one exception type that reaches the user as a message instead of a traceback."""


class CharrnnError(Exception):
    """A mistake the user can fix: the message names the problem and the way out."""
