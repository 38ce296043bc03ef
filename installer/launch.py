"""Starts the command line from ``python -m retention_agent.installer.launch …``, which is how Windows tasks
start the agent: ``pythonw.exe`` opens no console window, but leaves ``sys.stdout``/``sys.stderr`` as None;
they are pointed at the null device first so that no output can crash the agent."""

from __future__ import annotations

import importlib
import os
import sys


def main() -> int:
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    cli = importlib.import_module("retention_agent.cli.main")
    return int(cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
