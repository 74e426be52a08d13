"""newsprep: raw news articles in, a clean tokenized training corpus out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newsprep")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
