"""Helpers that run TRL 1.16's ``GRPOTrainer.train()`` through
``MoPPSGRPOTrainer`` on CPU (tests only): a tiny local world and a recorded
run, in the test process or under ``torchrun``."""
