"""semimix: semi-supervised learning from virtual samples between real, hidden and adversarial samples."""

from importlib.metadata import PackageNotFoundError, version

from semimix.errors import SemimixError

try:
    __version__ = version("semimix")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["SemimixError", "__version__"]
