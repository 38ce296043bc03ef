"""Commands for deliveries and the vault."""
