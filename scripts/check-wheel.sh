#!/usr/bin/env bash
# The wheel as a user gets it: build it, install it into a fresh virtual environment and run
# it from outside the source tree: `torchstudio --version`, `torchstudio new --demo` and one
# epoch of `torchstudio run` (so the package's modules and files are all in the wheel).
# WHEEL_CHECK_FULL=1: install the dependencies too, as a user's pip does (CI takes them from
# the dev environment, see below); WHEEL_CHECK_PIP_ARGS: extra pip arguments for that install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
dev_python="$PWD/.venv/bin/python"
if [ "${WHEEL_CHECK_FULL:-0}" = 1 ] || [ ! -x "$dev_python" ]; then
    "$PYTHON" -m venv "$work/venv"
    # shellcheck disable=SC2086  # the extra arguments are words
    # The dev constraints pin torch to the release that installs quickly (and is in pip's cache).
    "$work/venv/bin/python" -m pip install --quiet -c "$PWD/constraints-dev.txt" \
        ${WHEEL_CHECK_PIP_ARGS:-} "$work"/dist/torchstudio-*.whl
else
    # The dependencies are the ones `make venv` installed under the same constraints a user's
    # pip resolves: the fresh environment sees them through a .pth line instead of copying
    # torch's 5.5 GB again (1.5 of CI's minutes), and `pip check` proves the wheel's
    # requirements are all met by them. The package itself comes only from the wheel. The
    # environment has no pip of its own (its bundled setuptools would hide the dev one):
    # the dev pip installs into it.
    "$PYTHON" -m venv --without-pip "$work/venv"
    purelib=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$dev_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
        >"$purelib/dev-dependencies.pth"
    pip=("$dev_python" -m pip --python "$work/venv/bin/python")
    "${pip[@]}" install --quiet --no-deps "$work"/dist/torchstudio-*.whl
    "${pip[@]}" check
fi

cd "$work"  # away from src/: only the installed package can be imported
export TORCHSTUDIO_HOME="$work/home" TORCHSTUDIO_CACHE="$work/cache" PYTHONPATH=
venv/bin/python -c 'import sys, torchstudio; assert torchstudio.__file__.startswith(sys.prefix), torchstudio.__file__'
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
