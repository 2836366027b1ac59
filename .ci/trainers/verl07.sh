#!/usr/bin/env bash
# verl 0.7.1: MoPPSSampler through verl's own RayPPOTrainer.fit() on CPU
# (tests/integrations/test_verl07_fit.py), plus the sampler's unit and
# bad-input tests. verl's metadata pins numpy<2 (jax needs numpy>=2) and its
# GPU extras pull vllm/flash-attn, so the `verl` extra lists what verl's
# trainer imports and verl itself goes in without dependencies.
cd "$(dirname "$0")/../.."
source .ci/trainers/_lib.sh

fresh_venv verl07
python -m pip install --quiet -e ".[test,verl]"
python -m pip install --quiet --no-deps "verl==0.7.1"
run_tests tests/integrations/test_verl.py \
  tests/integrations/test_verl07_bad_input.py \
  tests/integrations/test_verl07_fit.py
