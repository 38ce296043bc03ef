"""The PDFs people read: shared layout and the proof-of-deletion certificate."""
