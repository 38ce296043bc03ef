"""The machine the agent runs on: its home, set-up, the service, OS accounts, logs, wiping files."""
