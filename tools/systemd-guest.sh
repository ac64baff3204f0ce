#!/bin/sh
# The systemd cgroup driver's tests (tests/systemd/) inside ONE throwaway guest
# that boots systemd as PID 1 on pure cgroup v2 with the system D-Bus
# (../shared/tools/cgvm/run-in-cgv2.sh --systemd): this machine has no systemd,
# most users' hosts do.  tools/test.sh runs it after the cgroup guests; by
# hand, as root:
#
#   tools/systemd-guest.sh [-- pytest args]        e.g. -- -k 'runc and scope'
#
# Without ../shared/tools/cgvm (a contributor's bare clone) the run is one
# ">> SKIP" line with the reason; when the guest cannot be set up, dies, times
# out or a test fails, it is a ">> FAIL" and the exit status is 1.
#
# Knobs: PYOCI_VENV (the virtualenv; .venv), CGVM (the cgvm script),
# CGVM_TIMEOUT (seconds the guest may run, default 1800), CGVM_CPUS (default
# 10: AllowedCPUs "8-9" needs a second byte in systemd's CPU mask, where a
# byte-order bug shows; under TCG the extra vCPUs cost about 2 s of boot),
# CGVM_* (see cgvm).
#
# Inside the guest (run-in-cgv2.sh runs "tools/systemd-guest.sh --inside" as
# the service cgvm.service): state roots and the busybox rootfs on the guest's
# tmpfs (9p refuses FIFOs), then pytest on tests/systemd with the plugins it
# does not need turned off (the guest is 20-40x slower than the host).
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
venv=${PYOCI_VENV:-$repo/.venv}

if [ "${1:-}" = "--inside" ]; then
    shift
    export PYOCI_TEST_TMP=/tmp/pyoci-tests PYTHONDONTWRITEBYTECODE=1 PYOCI_SYSTEMD_GUEST=1
    # First of all sysinit.target, which the engines' services pull in anyway:
    # its systemd-tmpfiles-setup empties /tmp (tmp.conf "D /tmp"), and would
    # take our files with it if it came later.
    t0=$(date +%s)
    systemctl start sysinit.target || echo "guest: sysinit.target failed to start"
    echo "guest: sysinit.target in $(( $(date +%s) - t0 ))s"
    # The checkout is shared uncached (9p, cache=mmap): every Python start would
    # stat its way through the virtualenv over 9p (import pytest alone took a
    # minute on a busy host).  The host packed what the tests run (not mypy,
    # ruff, pip...) into one tar: unpacked on tmpfs over the same path, pyoci and
    # pytest start from RAM.
    if [ -n "${PYOCI_GUEST_VENV_TAR:-}" ] && [ -f "$PYOCI_GUEST_VENV_TAR" ]; then
        t0=$(date +%s)
        if mkdir /tmp/venv && tar -C /tmp/venv -xf "$PYOCI_GUEST_VENV_TAR" &&
            mount --bind /tmp/venv "$venv"; then
            echo "guest: virtualenv unpacked on tmpfs in $(( $(date +%s) - t0 ))s"
        else
            echo "guest: virtualenv stays on 9p (unpacking failed)"
        fi
    fi
    echo "guest: kernel $(uname -r), $(systemctl --version | head -n1), $(nproc) cpus," \
        "$(systemctl is-system-running 2>&1)"
    # the whole directory unless the arguments name tests
    what=tests/systemd
    for a in "$@"; do case $a in tests/*) what= ;; esac; done
    # shellcheck disable=SC2086
    exec "$venv/bin/python3" -P -m pytest -p no:cacheprovider -p no:doctest -p no:hypothesispytest \
        -v -rs --durations=8 $what "$@"
fi

[ "${1:-}" = "--" ] && shift
cgvm=${CGVM:-$(cd "$repo/.." && pwd)/shared/tools/cgvm/run-in-cgv2.sh}
fail() { echo ">> FAIL systemd driver tests in the systemd guest: $1"; exit 1; }

if [ ! -e "$cgvm" ]; then
    echo ">> SKIP systemd driver tests in the systemd guest: no cgvm script at $cgvm (../shared absent)"
    exit 0
fi
[ "$(id -u)" = 0 ] || fail "needs root"
[ -x "$venv/bin/python3" ] || fail "no virtualenv at $venv (tools/bootstrap.sh --test)"
if ! setup=$(CGVM_SETUP_ONLY=1 "$cgvm" --systemd 2>&1); then
    fail "cgvm set-up failed: $(printf '%s\n' "$setup" | tail -n 1)"
fi

# the virtualenv in one file for the guest (see --inside); the checkout is
# the only host directory the guest sees
work=$(mktemp -d "$repo/.systemd-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM  # so that the EXIT trap runs
sp=./lib/python3.11/site-packages
tar -C "$venv" -cf "$work/venv.tar" --exclude="$sp/mypy" --exclude="$sp/mypyc" \
    --exclude="$sp/*__mypyc*" --exclude="$sp/pip" --exclude="$sp/setuptools" \
    --exclude="$sp/pkg_resources" --exclude="$sp/hypothesis" --exclude="$sp/librt" \
    --exclude="$sp/ast_serialize" --exclude=./bin/ruff --exclude='*.pyi' . ||
    fail "cannot pack the virtualenv $venv"

echo ">> systemd driver tests in a systemd guest (systemd PID 1, cgroup v2)"
start=$(date +%s)
rc=0
PYOCI_VENV="$venv" PYOCI_GUEST_VENV_TAR="$work/venv.tar" CGVM_TIMEOUT="${CGVM_TIMEOUT:-1800}" \
    CGVM_CPUS="${CGVM_CPUS:-10}" \
    "$cgvm" --systemd tools/systemd-guest.sh --inside "$@" || rc=$?
took=$(( $(date +%s) - start ))
if [ "$rc" = 0 ]; then
    echo ">> systemd driver tests in the systemd guest: passed (${took}s)"
    exit 0
fi
fail "exit $rc after ${took}s$([ "$rc" = 125 ] && echo ' (the guest died or timed out)')"
