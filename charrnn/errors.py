"""The one exception type that reaches the user as a message instead of a traceback."""


class CharrnnError(Exception):
    """A mistake the user can fix: the message names the problem and the way out."""


class UsageError(CharrnnError):
    """Arguments that contradict each other or are out of range: the command line answers
    with its usage and exit code 2, as for a bad option."""


def reason(error: BaseException) -> str:
    """The one line of an exception worth showing; MXNet's put their C++ trace first."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = getattr(error, "strerror", None) or (lines[-1] if lines else type(error).__name__)
    if "Check failed" in text:  # "Check failed: <C++ expression>: <what went wrong>"
        text = text.rsplit(": ", 1)[-1]
    return text[:300]
