#!/usr/bin/env bash
# Docs step: build the Sphinx site with warnings as errors and every tutorial
# executed (docs/tutorials/*.md are MyST notebooks), in its own virtual
# environment. Needs only Python >= 3.11 and pip; the HTML goes to
# docs/_build/html (myst-nb keeps its executed notebooks in docs/_build too).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .ci-venv-docs
. .ci-venv-docs/bin/activate
python -m pip install --quiet --upgrade pip
# The tutorials draw their figures with bayesrl.eval.plot_regret (matplotlib).
python -m pip install --quiet -e ".[docs,plot]"

start=$SECONDS
rm -rf docs/_build docs/api
BAYESRL_DOCS_EXECUTE=force \
  python -m sphinx -q -W --keep-going -b html docs docs/_build/html
echo "docs built in $((SECONDS - start)) s (sphinx-build -W, tutorials executed)"
