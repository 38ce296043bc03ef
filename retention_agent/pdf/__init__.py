"""The PDFs people read: shared layout and words, the proof-of-deletion certificate and the DPO report."""
