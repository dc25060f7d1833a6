"""The one exception type that the CLI turns into a one-line message instead of a traceback."""


class SemimixError(Exception):
    """A problem with the user's input or environment: the message says what is wrong and how to fix it."""
