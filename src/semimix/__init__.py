"""semimix: semi-supervised learning from virtual samples between real, hidden and adversarial samples."""

from importlib.metadata import PackageNotFoundError, version

from semimix.errors import SemimixError

try:
    __version__ = version("semimix")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["SemiSupervisedClassifier", "SemimixError", "__version__"]


def __getattr__(name: str) -> object:
    """``semimix.SemiSupervisedClassifier`` without importing torch and scikit-learn for ``import semimix``."""
    if name == "SemiSupervisedClassifier":
        from semimix.estimator import SemiSupervisedClassifier

        return SemiSupervisedClassifier
    raise AttributeError(f"module 'semimix' has no attribute {name!r}")
