#!/bin/sh
# Create the unprivileged user the rootless tests run pyoci as (idempotent):
# a home directory and subordinate uid/gid ranges in /etc/subuid and
# /etc/subgid for newuidmap/newgidmap.  Run as root; tools/test.sh calls it.
#
#   tools/test-user.sh [NAME]      (default pyoci-test, or $PYOCI_TEST_USER)
set -eu
user=${1:-${PYOCI_TEST_USER:-pyoci-test}}

if ! id -u "$user" >/dev/null 2>&1; then
    echo ">> useradd $user"
    useradd --create-home --shell /bin/sh --user-group "$user"
fi
home=$(getent passwd "$user" | cut -d: -f6)
[ -d "$home" ] || { mkdir -p "$home"; chown "$user:" "$home"; chmod 0755 "$home"; }

# One range of 65536 ids per file, after every range already handed out.
for kind in uid gid; do
    f=/etc/sub$kind
    [ -e "$f" ] || { : >"$f"; chmod 0644 "$f"; }
    if ! grep -q "^$user:" "$f"; then
        start=$(awk -F: 'BEGIN { m = 100000 } NF == 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$f")
        echo ">> $f: $user:$start:65536"
        echo "$user:$start:65536" >>"$f"
    fi
done

# The user runs the installed pyoci: every directory above the virtualenv and
# above its interpreter (a pyenv build under /root, say) must be searchable.
# Only the search bit (o+x) is added, never read.
venv=${PYOCI_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}
if [ -x "$venv/bin/python3" ]; then
    py=$(readlink -f "$venv/bin/python3")
    for p in "$venv/bin/pyoci" "$py"; do
        d=$(dirname "$p")
        while [ "$d" != "/" ]; do
            if [ -z "$(find "$d" -maxdepth 0 -perm -o+x)" ]; then
                echo ">> chmod o+x $d (so $user can run $p)"
                chmod o+x "$d"
            fi
            d=$(dirname "$d")
        done
    done
fi
