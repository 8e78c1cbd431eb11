#!/usr/bin/env bash
# Installs libCacheSim's Python binding (`libcachesim` from PyPI, pinned) into a venv at
# target/libcachesim-venv, for the eviction cross-check (crates/cdn-sim/tests/libcachesim.rs)
# and examples/policy_speed.rs. Idempotent: a venv that already imports the pinned version is
# left alone. Without Python or network the tests print SKIPPED; CI runs this first.
set -u
cd "$(dirname "$0")/.."
VERSION=0.3.5
VENV=target/libcachesim-venv
PY="$VENV/bin/python3"

if [ -x "$PY" ] && "$PY" -c "import libcachesim, sys; sys.exit(libcachesim.__version__ != '$VERSION')" 2>/dev/null; then
  echo "libcachesim setup: $VERSION already in $VENV"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "libcachesim setup: installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  fi
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "libcachesim setup: no python3 with venv; the libCacheSim cross-check will print SKIPPED"
  exit 0
fi
mkdir -p target
rm -rf "$VENV"
echo "libcachesim setup: creating $VENV and installing libcachesim==$VERSION"
if python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check "libcachesim==$VERSION"; then
  echo "libcachesim setup: done ($("$PY" -c 'import libcachesim; print(libcachesim.__version__)'))"
else
  echo "libcachesim setup: pip install failed; the libCacheSim cross-check will print SKIPPED"
fi
exit 0
