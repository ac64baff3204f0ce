#!/bin/sh
# The cgroup test modules again, inside throwaway pure-cgroup-v2 and pure-v1
# guests (../shared/tools/cgvm/run-in-cgv2.sh): this machine is hybrid, most
# users' are pure v2, old ones pure v1.  CRIU 3.17 does not run on this
# machine's kernel: its cgroup restore is checked in all three layouts, so a
# hybrid guest runs that one test too.  tools/test.sh runs it after the host
# tests; by hand, as root:
#
#   tools/cgroup-guests.sh [v2] [v1] [hybrid] [-- pytest args]   (default: all three)
#
# Two guests run at once (each is one single-threaded qemu TCG process, about
# 4-7 minutes here; a 2-core machine): v2 alone, v1 then hybrid (under a minute).  Without ../shared (a contributor's bare clone, no CGVM) the
# guests are skipped: one ">> SKIP" line a mode, exit 0.  With it (CI here),
# everything else that keeps a guest from reporting fails the run: not root,
# no virtualenv, the cgvm set-up failing (no qemu, kernel download failed), a
# guest that dies before its tests report (cgvm's exit 125) or times out, and
# of course a failing test.
#
# Knobs: PYOCI_VENV (the virtualenv; .venv), CGVM (the cgvm script; default
# ../shared/tools/cgvm/run-in-cgv2.sh, see conformance/refs.py),
# CGVM_TIMEOUT (seconds a guest may run, default 1800), CGVM_* (see cgvm).
# PYOCI_CI_SKIPS (conformance/skips.py) reaches the guests' pytest too.
#
# Inside the guest (run-in-cgv2.sh calls "tools/cgroup-guests.sh --inside"):
# a RAM disk for the block I/O tests and 2 MiB huge pages for the hugetlb
# tests (the guest is thrown away, the host is never changed), the state
# roots on the guest's tmpfs (9p refuses FIFOs), then pytest on the modules.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
venv=${PYOCI_VENV:-$repo/.venv}
MODULES="tests/integration/test_cgroup_manager.py tests/integration/test_cgroups_cli.py
    tests/integration/test_clone3.py"
# Only in the pure v2 guest (most users' hosts), to keep the emulated run short:
# the killed-create sweep (the v1 hierarchies are covered by this hybrid host).
# And CRIU 3.17, which works on the guests' 6.1 kernel (not on 6.18 hosts).
V2_MODULES="tests/integration/test_killed_create.py tests/criu/test_checkpoint.py tests/criu/test_podman_checkpoint.py"
# CRIU's cgroup restore in the v1 and hybrid guests: one checkpoint + restore a runtime
CRIU_CGROUPS="tests/criu/test_checkpoint.py::test_counter_memory_and_files_go_on_in_another_id"

if [ "${1:-}" = "--inside" ]; then
    shift
    kv=$(uname -r)
    if [ ! -e /sys/block/ram0 ]; then
        brd=$(find "/lib/modules/$kv/kernel/drivers/block" -name 'brd.ko*' 2>/dev/null | head -n1)
        case $brd in
            *.xz) xz -dc "$brd" > /tmp/brd.ko || true ;;
            *.zst) zstd -qdc "$brd" > /tmp/brd.ko || true ;;
            ?*) cp "$brd" /tmp/brd.ko ;;
        esac
        if [ -s /tmp/brd.ko ]; then
            busybox insmod /tmp/brd.ko rd_nr=1 rd_size=8192 || echo "guest: no RAM disk (insmod brd failed)"
        else
            echo "guest: no RAM disk (no usable brd.ko for $kv)"
        fi
    fi
    hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    if [ -w "$hp" ]; then echo 4 > "$hp"; fi
    export PYOCI_TEST_TMP=/tmp/pyoci-tests PYTHONDONTWRITEBYTECODE=1
    echo "guest: kernel $kv, cgroup ${CGVM_MODE:-?}, $(nproc) cpus"
    case ${CGVM_MODE:-} in
        v2) MODULES="$MODULES $V2_MODULES" ;;
        v1) MODULES="$MODULES $CRIU_CGROUPS" ;;
        hybrid) MODULES="$CRIU_CGROUPS" ;;  # (the rest runs on this hybrid host)
    esac
    # shellcheck disable=SC2086
    exec "$venv/bin/python3" -P -m pytest -p no:cacheprovider -q -rs $MODULES "$@"
fi

modes=""
while [ $# -gt 0 ]; do
    case $1 in
        v1|v2|hybrid) modes="$modes $1"; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done
modes=${modes:-" v2 v1 hybrid"}
cgvm=${CGVM:-$(cd "$repo/.." && pwd)/shared/tools/cgvm/run-in-cgv2.sh}

if [ -z "${CGVM:-}" ] && [ ! -d "$repo/../shared" ]; then
    for m in $modes; do
        echo ">> SKIP cgroup tests in the $m guest: needs ../shared (the qemu guest tool" \
            "../shared/tools/cgvm; or set CGVM to run-in-cgv2.sh)"
    done
    exit 0
fi
fail_all() {
    for m in $modes; do echo ">> FAIL cgroup tests in the $m guest: $1"; done
    exit 1
}
[ "$(id -u)" = 0 ] || fail_all "needs root"
[ -x "$cgvm" ] || fail_all "no cgvm script at $cgvm"
[ -x "$venv/bin/python3" ] || fail_all "no virtualenv at $venv (tools/bootstrap.sh --test)"
# Once, before the guests run in parallel: qemu (apt), the kernel (download).
rc=0
setup=$(CGVM_SETUP_ONLY=1 "$cgvm" 2>&1) || rc=$?
if [ "$rc" != 0 ]; then
    printf '%s\n' "$setup" | tail -n 20
    fail_all "cgvm set-up failed (exit $rc): $(printf '%s\n' "$setup" | tail -n 1)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_guest() {  # MODE [pytest args]
    m=$1
    shift
    start=$(date +%s)
    rc=0
    PYOCI_VENV="$venv" CGVM_TIMEOUT="${CGVM_TIMEOUT:-1800}" \
        "$cgvm" "--$m" tools/cgroup-guests.sh --inside "$@" > "$work/$m.log" 2>&1 || rc=$?
    echo "$rc $(( $(date +%s) - start ))" > "$work/$m.rc"
}
# two lanes: v2 (the longest) alone, the other modes one after the other
lane1="" lane2=""
for m in $modes; do
    if [ "$m" = v2 ]; then lane1="$lane1 $m"; else lane2="$lane2 $m"; fi
done
for lane in "$lane1" "$lane2"; do
    [ -n "$lane" ] || continue
    ( for m in $lane; do run_guest "$m" "$@"; done ) &
done
wait
status=0
for m in $modes; do
    read -r rc took < "$work/$m.rc"
    echo ">> cgroup tests in the $m guest"
    cat "$work/$m.log"
    if [ "$rc" = 0 ]; then
        echo ">> cgroup tests in the $m guest: passed (${took}s)"
    elif [ "$rc" = 125 ] && ! grep -q '^guest: ' "$work/$m.log"; then
        why=$(grep -m1 '^cgvm: ' "$work/$m.log" || echo "cgvm: exit 125")
        echo ">> FAIL cgroup tests in the $m guest: it died before its tests ran (${took}s; $why)"
        status=1
    else
        echo ">> FAIL cgroup tests in the $m guest (exit $rc after ${took}s)"
        status=1
    fi
done
exit $status
