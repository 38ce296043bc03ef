"""Evidence others verify: proofs of deletion, SSHSIG signatures, signed checkpoints, Merkle trees."""
