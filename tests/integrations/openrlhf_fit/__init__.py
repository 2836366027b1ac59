"""Helpers that run OpenRLHF 0.11.2's PPO driver and ``PPOTrainer.fit()`` on
CPU (tests only): stand-ins for what needs a GPU, a tiny local world, a run."""
