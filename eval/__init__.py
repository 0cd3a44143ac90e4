"""Measured evaluations behind ``make eval``: labelled sets, scorers and the harness that runs them
through the real services (``python -m eval``)."""
