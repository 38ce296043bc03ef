"""The SQLite database: schema, migrations, upkeep, and each table's queries."""
