#!/bin/sh
# README command (1): install pyoci and run the embedded example bundle.
# The rootfs is built here from the host's busybox-static (nothing downloaded,
# no binary committed).  Run as root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
"$repo/tools/bootstrap.sh"
venv=${PYOCI_VENV:-$repo/.venv}

rootfs=$here/rootfs
if [ ! -x "$rootfs/bin/busybox" ]; then
    mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" > "$rootfs/etc/passwd"
fi

id=hello-$$
exec "$venv/bin/pyoci" run --bundle "$here" "$id"
