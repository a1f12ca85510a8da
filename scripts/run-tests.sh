#!/usr/bin/env bash
# Runs a tier of the test suite (README, "Tests"):
#   run-tests.sh          the whole suite, as CI runs it, with branch coverage of src/
#   run-tests.sh quick    unit, worker and service tests: no browser, no sshd, no kills
#   run-tests.sh soak     the long versions of the load and kill tests
# Extra arguments go to pytest. An empty collection (pytest exit 5) is a failure, never a
# pass: it means the suite itself is broken.
set -uo pipefail

PY=.venv/bin/python
# Two processes: most tests wait on worker subprocesses, so two cores go further than one.
WORKERS=${TORCHSTUDIO_TEST_WORKERS:-2}
tier=${1:-full}
[ "$#" -gt 0 ] && shift

case "$tier" in
full)
    rm -rf build/coverage && mkdir -p build/coverage
    $PY -m coverage run -m pytest -n "$WORKERS" --dist loadgroup --durations=15 "$@"
    status=$?
    $PY -m coverage combine -q
    $PY -m coverage report
    ;;
quick)
    $PY -m pytest -n "$WORKERS" --dist loadgroup -m "not browser and not sshd and not fault and not slow" "$@"
    status=$?
    ;;
soak)
    TORCHSTUDIO_SOAK=1 $PY -m pytest -m soak --durations=0 "$@"
    status=$?
    ;;
*)
    echo "run-tests: unknown tier '$tier' (full, quick, soak)" >&2
    exit 2
    ;;
esac
if [ "$status" -eq 5 ]; then
    echo "run-tests: pytest collected no tests; the suite is broken" >&2
    exit 1
fi
exit "$status"
