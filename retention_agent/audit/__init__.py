"""The tamper-evident audit log and the quick ways to read it."""
