"""histbench: benchmark a Python project across its git history."""

__version__ = "0.1.0"
