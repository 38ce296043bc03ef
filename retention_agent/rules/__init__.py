"""Rules as pure functions: retention deadlines, who may do what, what typed text and ids may be kept."""
