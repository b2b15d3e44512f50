"""dropout-study: a reproducible, multi-seed answer to what dropout does."""

__version__ = "0.1.0"
