"""signoff: people in the loop of AI decisions."""

__version__ = "0.1.0"
