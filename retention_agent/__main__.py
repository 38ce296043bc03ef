"""``python -m retention_agent`` is the ``retention-agent`` command."""

from retention_agent.cli.main import main

main()
