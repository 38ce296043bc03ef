"""retention-agent: keeps AgII civic-integration deliveries in an encrypted vault and purges them on time."""

__version__ = "0.1.0"
