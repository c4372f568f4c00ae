"""Graded exercise tests: run with ``--impl exercises`` or ``--impl solutions``."""
