#!/bin/sh
# README command (2): install everything the tests need on a fresh Debian 12
# machine (as root) and run the whole suite: lint, types, unit + integration
# tests.  .ci/run calls this.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
"$repo/tools/bootstrap.sh" --test
venv=${PYOCI_VENV:-$repo/.venv}
# the unprivileged user tests/rootless runs pyoci as (idempotent)
PYOCI_VENV="$venv" "$repo/tools/test-user.sh"
py="$venv/bin/python3"

echo ">> ruff"
"$venv/bin/ruff" check pyoci tests conformance
echo ">> mypy --strict pyoci"
"$venv/bin/mypy" pyoci

echo ">> pytest"
"$py" -m pytest -p no:cacheprovider -q -rs tests "$@"

# The cgroup tests again in pure cgroup v2 and pure v1 guests (this machine is
# hybrid); a guest that cannot boot is a ">> SKIP" line with its reason.
echo ">> cgroup tests in pure v2 and v1 guests (../shared/tools/cgvm)"
PYOCI_VENV="$venv" "$repo/tools/cgroup-guests.sh"
