#!/usr/bin/env bash
# Install PostgreSQL's server binaries (Debian's `postgresql` package) for the tests, which start
# their own private server on a temporary port and data directory (tests/pg.py).
# Idempotent: does nothing when initdb is already there. Debian's package creates and starts a
# "main" cluster; this script stops that cluster and sets it to manual start, but only a cluster
# that this run created: a PostgreSQL the machine already ran is left alone.
set -euo pipefail

have_initdb() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1
}

clusters() {  # "VERSION NAME" of every Debian cluster, one a line
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters --no-header 2>/dev/null | awk '{print $1, $2}'
}

if have_initdb; then
  echo "postgresql: initdb present, nothing to install"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "postgresql: initdb not found, and installing needs root and apt-get;" \
       "install Debian's 'postgresql' package or set SEETHINK_PG_BINDIR" >&2
  exit 1
fi

before="$(clusters)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null

# The package's own cluster is not what the tests use: stop it and keep it from starting again.
while read -r version name; do
  [ -n "${version:-}" ] || continue
  if grep -qx "$version $name" <<<"$before"; then
    continue  # there before this script ran: not ours to touch
  fi
  echo "postgresql: stopping the cluster $version/$name the package created (tests run their own)"
  pg_ctlcluster "$version" "$name" stop -m fast 2>/dev/null || true
  conf="/etc/postgresql/$version/$name/start.conf"
  [ -f "$conf" ] && echo manual >"$conf"
done <<<"$(clusters)"

have_initdb || { echo "postgresql: installed, but initdb is still missing" >&2; exit 1; }
echo "postgresql: installed $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
