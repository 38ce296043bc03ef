"""The running agent: the composition root, its capabilities and what its parts share."""
