#!/usr/bin/env bash
# Runs the whole test suite. An empty collection (pytest exit 5) is a failure, never a pass:
# it means the suite itself is broken.
set -uo pipefail

.venv/bin/python -m pytest --durations=25 "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "run-tests: pytest collected no tests; the suite is broken" >&2
    exit 1
fi
exit "$status"
