"""The ``retention-agent`` command: parsing, the commands, click in the user's language, terminal output."""
