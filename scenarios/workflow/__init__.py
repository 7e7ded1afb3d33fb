"""The ``workflow`` scenario (being built)."""
