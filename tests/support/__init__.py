"""Helpers and fixtures shared by the unit and integration tests (registered in tests/support/agent.py)."""
