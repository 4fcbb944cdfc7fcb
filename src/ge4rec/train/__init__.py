"""Training loop and metrics."""
