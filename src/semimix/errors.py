"""The one exception type that the CLI turns into a one-line message instead of a traceback."""


class SemimixError(ValueError):
    """A problem with the user's input or environment: the message says what is wrong and how to fix it.

    A ValueError, so callers (scikit-learn's model selection and estimator checks among them)
    that expect bad input to raise ValueError treat it as such."""
