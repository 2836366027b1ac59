"""Helpers that run verl 0.9.1's ``RayPPOTrainer.fit()`` on CPU through
``bayesrl.integrations.verl_main`` (tests only)."""
