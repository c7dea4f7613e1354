"""Detectors: pure functions from captures + baseline + inventory to findings (see ``registry.py``)."""
