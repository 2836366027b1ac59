# Shared steps of the trainer end-to-end runs (.ci/trainers/<name>.sh).
# Each trainer gets its own virtual environment (their pins conflict: verl 0.7.1
# and 0.9.1, OpenRLHF's transformers and ray pins), built from PyPI alone.
set -euo pipefail

# fresh_venv NAME: create .ci-venv-NAME at the repository root and activate it.
fresh_venv() {
  local dir=".ci-venv-$1"
  rm -rf "$dir"
  python3 -m venv "$dir"
  # shellcheck disable=SC1091
  . "$dir/bin/activate"
  python -m pip install --quiet --upgrade pip
  # torch's CPU build first (a plain install would pull the CUDA build).
  python -m pip install --quiet "torch==2.13.0"
}

# run_tests PATH...: pytest on the given paths; "no tests collected" fails.
run_tests() {
  local status=0
  python -m pytest -q -p no:cacheprovider -m "not slow" "$@" || status=$?
  if [[ $status -eq 5 ]]; then
    echo "pytest collected no tests in $*: failing" >&2
    return 1
  fi
  return $status
}
