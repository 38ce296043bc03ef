"""Messages for people: the catalogue, message ids kept as data, OS errors in words."""
