"""The two tiers and the fixtures every test may use.

tests/unit/ starts no agent process, Dovecot, OS account, mount or X server (``scripts/test.sh --fast``);
tests/integration/ does. Each test is marked with its tier (``-m unit``, ``-m integration``). Fixtures and
helpers live in tests/support/, registered here as plugins: a test imports helpers from there, never from a
conftest.
"""

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.accounts",
    "tests.support.agent",
    "tests.support.dovecot",
    "tests.support.retention",
]

TIERS = {Path(__file__).parent / tier: tier for tier in ("unit", "integration")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for folder, tier in TIERS.items():
            if item.path.is_relative_to(folder):
                item.add_marker(tier)
