"""The version of skae, one place for the package and the files it writes."""

__version__ = "0.3.0"
