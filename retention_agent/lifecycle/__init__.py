"""A delivery's life: its states, the decisions that set when it goes, its purge and the schedule."""
