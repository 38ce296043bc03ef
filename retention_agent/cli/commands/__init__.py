"""The command groups of the command line, one module per area."""
