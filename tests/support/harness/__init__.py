"""Whole-system harnesses that drive the real agent process (crash harness: ``crash.py``)."""
