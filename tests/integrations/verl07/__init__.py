"""Helpers that run verl 0.7.1's ``RayPPOTrainer.fit()`` on CPU (tests only)."""
