#!/usr/bin/env bash
# The wheel as a user gets it: build it, install it into a fresh virtual environment and run
# it from outside the source tree: `torchstudio --version`, `torchstudio new --demo` and one
# epoch of `torchstudio run` (so the package's modules and files are all in the wheel).
# WHEEL_CHECK_PIP_ARGS: extra pip arguments for the install (an index for torch, a cache).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
"$PYTHON" -m venv "$work/venv"
# shellcheck disable=SC2086  # the extra arguments are words
# The dev constraints pin torch to the release that installs quickly (and is in pip's cache).
"$work/venv/bin/python" -m pip install --quiet -c "$PWD/constraints-dev.txt" \
    ${WHEEL_CHECK_PIP_ARGS:-} "$work"/dist/torchstudio-*.whl

cd "$work"  # away from src/: only the installed package can be imported
export TORCHSTUDIO_HOME="$work/home" TORCHSTUDIO_CACHE="$work/cache" PYTHONPATH=
venv/bin/torchstudio --version
venv/bin/torchstudio new --demo demo.tsproj
venv/bin/torchstudio run demo.tsproj --epochs 1 --timeout 600 | tee run.jsonl
venv/bin/python - <<'CHECK'
import json

lines = [json.loads(line) for line in open("run.jsonl")]
summary = lines[-1]["summary"][0]
assert summary["epochs"] == 1 and summary["reason"] == "finished", summary
print("wheel check: installed, --version, new --demo and one epoch of run work")
CHECK
