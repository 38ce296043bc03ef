"""What runs in a staff member's own session: files written with their own rights, notifications."""
