#!/bin/sh
# README command (2): install everything the tests need on a fresh Debian 12
# machine (as root) and run the whole suite: lint, types, unit + integration
# tests, the conformance suite (pyoci and runc), the cgroup tests in v2/v1
# guests, the systemd driver's tests in a systemd guest; the seconds each step
# took come last.  .ci/run calls this.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)

# seconds per step, printed at the end (also when a step fails)
start=$(date +%s)
last=$start
times=""
lap() {
    now=$(date +%s)
    times="$times $1=$((now - last))s"
    last=$now
}
trap 'echo ">> step times:$times total=$(($(date +%s) - start))s"' EXIT

"$repo/tools/bootstrap.sh" --test
venv=${PYOCI_VENV:-$repo/.venv}
# the unprivileged user tests/rootless runs pyoci as (idempotent)
PYOCI_VENV="$venv" "$repo/tools/test-user.sh"
py="$venv/bin/python3"
lap bootstrap

# Every skip must be one the host explains (conformance/skips.py lists them):
# with ../shared beside the clone (CI here) nothing else may skip; on a bare
# clone the parts that need ../shared (the runtime-spec text, the qemu guests)
# skip too, each saying so (conformance/refs.py; PYOCI_SPEC_DIR, CGVM).
if [ -d "$repo/../shared" ]; then
    export PYOCI_CI_SKIPS=${PYOCI_CI_SKIPS:-strict}
else
    export PYOCI_CI_SKIPS=${PYOCI_CI_SKIPS:-bare}
    echo ">> no ../shared beside $repo: the parts that need it are skipped, each saying why"
fi

echo ">> ruff"
"$venv/bin/ruff" check pyoci tests conformance bench
lap ruff
echo ">> mypy --strict pyoci"
"$venv/bin/mypy" pyoci
lap mypy

echo ">> pytest"
"$py" -P -m pytest -p no:cacheprovider -q -rs tests "$@"
lap pytest

# Our spec-clause suite (conformance/README.md) against pyoci, then Debian's runc
# whose known deviations are strict xfails: any unexpected result fails CI.  (The
# official runtime-tools suite needs fetched code: not run here.)
echo ">> conformance: pyoci and runc (python -m conformance.ci)"
"$py" -m conformance.ci --pyoci "$venv/bin/pyoci"
lap conformance

# The cgroup tests again in pure cgroup v2 and pure v1 guests (this machine is
# hybrid); without ../shared a ">> SKIP" line, with it a guest that cannot
# boot fails the run.
echo ">> cgroup tests in pure v2 and v1 guests (../shared/tools/cgvm)"
PYOCI_VENV="$venv" "$repo/tools/cgroup-guests.sh"
lap guests

# The systemd cgroup driver (--systemd-cgroup) against a real systemd: one guest
# booting systemd as PID 1 on cgroup v2, pyoci and runc side by side, the
# engines in their default systemd modes.  After the v1/v2 guests, not beside
# them: each guest is one CPU-bound qemu thread and those two fill both cores.
echo ">> systemd driver tests in a systemd guest (../shared/tools/cgvm --systemd)"
PYOCI_VENV="$venv" "$repo/tools/systemd-guest.sh"
lap systemd
