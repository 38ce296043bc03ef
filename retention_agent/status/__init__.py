"""The privacy officer's status and the organisational checklist, gathered as facts."""
