#!/usr/bin/env bash
# TRL 1.16.0: GRPOTrainer.train() through MoPPSGRPOTrainer on CPU (tiny random
# Qwen2/Llama from a config, local tokenizer), in one process and in two
# torchrun processes; prints the 40-step figures.
source "$(dirname "$0")/_lib.sh"
cd "$(dirname "$0")/../.."

fresh_venv trl
python -m pip install --quiet -e ".[test,trl]"
export TRL_FIGURES_JSON="$PWD/.ci-venv-trl/figures.json"
run_tests tests/integrations/test_trl.py tests/integrations/test_trl_fit.py
cat "$TRL_FIGURES_JSON"
