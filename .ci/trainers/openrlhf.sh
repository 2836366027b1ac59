#!/usr/bin/env bash
# OpenRLHF 0.11.2 end-to-end: its train_ppo_ray driver and PPOTrainer.fit()
# through `python -m bayesrl.integrations.openrlhf` on CPU (tiny random Qwen2,
# local tokenizer), with a reward function and with a reward model, a
# 40-step run whose figures are printed, and resume from its checkpoints.
# openrlhf itself goes in without dependencies: it requires deepspeed and
# flash-attn (CUDA builds); the extra pins the rest at openrlhf's versions.
source "$(dirname "$0")/_lib.sh"
cd "$(dirname "$0")/../.."

fresh_venv openrlhf
python -m pip install --quiet -e ".[test,openrlhf]"
python -m pip install --quiet --no-deps "openrlhf==0.11.2"
figures="$(mktemp -d)"
BAYESRL_FIGURES_DIR="$figures" run_tests \
  tests/integrations/test_openrlhf.py tests/integrations/test_openrlhf_fit.py
echo "OpenRLHF figures:"
cat "$figures/openrlhf_figures.json"
