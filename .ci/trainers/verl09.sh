#!/usr/bin/env bash
# verl 0.9.1: bayesrl.integrations.verl_main through verl's own
# RayPPOTrainer.fit() on CPU (tests/integrations/test_verl09_*.py).
# verl 0.9.1's own dependencies (ray[default], wandb, tensorboard, and vllm or
# sglang in its GPU extras) are not needed here: the `verl09` extra lists what
# verl's RayPPOTrainer path imports, with exact pins, and verl itself goes in
# without dependencies.
cd "$(dirname "$0")/../.."
source .ci/trainers/_lib.sh

fresh_venv verl09
python -m pip install --quiet -e ".[test,verl09]"
python -m pip install --quiet --no-deps "verl==0.9.1"
run_tests tests/integrations/test_verl09_sampler.py tests/integrations/test_verl09_fit.py
