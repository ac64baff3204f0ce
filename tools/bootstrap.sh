#!/bin/sh
# Set up a fresh Debian 12 machine for pyoci, as root: Debian packages, then a
# virtualenv with pyoci installed from this checkout.
#
#   tools/bootstrap.sh           runtime only (what the example needs)
#   tools/bootstrap.sh --test    plus everything the tests need
#
# The virtualenv is $PYOCI_VENV (default: .venv in the checkout).
set -eu
cd "$(dirname "$0")/.."
here=$(pwd)
venv=${PYOCI_VENV:-$here/.venv}
with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

pkgs="gcc libc6-dev libseccomp-dev libseccomp2 busybox-static python3-venv python3-dev git"
if [ "$with_tests" = 1 ]; then
    # dbus-daemon: tests/integration/test_dbus_daemon.py runs a private bus;
    # criu: tests/criu (it runs in the v2 guest, whose kernel CRIU 3.17 supports)
    pkgs="$pkgs runc crun uidmap passwd iproute2 util-linux procps dbus-daemon criu"
fi

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo ">> apt-get install$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q $missing >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q $missing >/dev/null
    }
fi

# tests/engines: containerd's runc shim, podman (through conmon) and docker (through
# containerd) drive pyoci; script (bsdutils) gives them a terminal.  Without
# recommends (buildah, dbus...).
if [ "$with_tests" = 1 ]; then
    missing=""
    for p in containerd podman conmon docker.io bsdutils; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo ">> apt-get install --no-install-recommends$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
            apt-get update -q >/dev/null
            apt-get install -y -q --no-install-recommends $missing >/dev/null
        }
    fi
fi

# The cgroup guests (tools/cgroup-guests.sh): qemu without its GUI recommends.
# Not fatal: without it those tests are reported as skipped.
if [ "$with_tests" = 1 ] && ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    echo ">> apt-get install qemu-system-x86"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 &&
            apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null 2>&1; } ||
        echo "bootstrap: qemu-system-x86 could not be installed (cgroup guest tests will skip)"
fi

# Any Python >= 3.11 with venv; Debian's first: its interpreter links libpython
# statically, so it starts faster and smaller than a shared-libpython build,
# which matters for a command engines run 4-6 times per container.
py=""
for cand in /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
        "$cand" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        py=$(command -v "$cand")
        break
    fi
done
[ -n "$py" ] || { echo "bootstrap: no Python >= 3.11 with venv found" >&2; exit 1; }

if [ ! -x "$venv/bin/python3" ]; then
    echo ">> creating virtualenv $venv ($("$py" --version))"
    "$py" -m venv "$venv"
fi
"$venv/bin/python3" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$with_tests" = 1 ]; then
    echo ">> pip install .[test,docs]"
    "$venv/bin/python3" -m pip install -q ".[test,docs]"
else
    echo ">> pip install ."
    "$venv/bin/python3" -m pip install -q .
fi
# The installed launcher re-executes itself through /bin/sh to add -I -S; here we
# know the interpreter, so point its first line at it directly (one exec less).
launcher="$venv/bin/pyoci"
if head -1 "$launcher" | grep -q '^#!/bin/sh'; then
    tmp="$launcher.tmp.$$"
    { echo "#!$venv/bin/python3 -IS"; tail -n +2 "$launcher"; } > "$tmp"
    chmod 755 "$tmp"
    mv "$tmp" "$launcher"
fi
echo ">> pyoci installed: $venv/bin/pyoci ($("$venv/bin/pyoci" --version | head -1))"
