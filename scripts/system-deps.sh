#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when missing: a PostgreSQL server (the tests
# start their own throwaway cluster with initdb/pg_ctl; nothing is configured system-wide) and
# Chromium (the browser tests drive Debian's chromium, never a downloaded browser), Node.js (the
# dashboard's proof-checking script is tested under it) and a Java runtime
# (the analytics test runs on a local Spark session).
set -euo pipefail
need=()
# What the compiled ledger verifier (circulith.store._ledger_native, built at install) compiles against.
# Without them the package installs all the same and `ledger verify` runs its Python verifier.
python=${PYTHON:-python3}
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
[ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
[ -f /usr/include/openssl/sha.h ] || need+=(libssl-dev)
if ! "$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' 2>/dev/null; then
  need+=(python3-dev)
fi
if [ "${1:-}" = "--build" ]; then  # only what the build needs (make demo)
  :
else
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if ! command -v java >/dev/null 2>&1; then
  need+=(default-jre-headless)   # the analytics test runs the same expressions on a local Spark session
fi
if ! command -v node >/dev/null 2>&1; then
  need+=(nodejs)   # the dashboard's RFC 9162 proof check (web/static/app/ledger_watch.js) is tested under Node
fi
if [ ! -x /usr/bin/chromium ]; then
  need+=(chromium)
fi
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run: sudo apt-get install -y ${need[*]});" \
       "the tests that need them will be skipped, and ledger verify uses its Python verifier" >&2
  [ -n "${CI:-}" ] && exit 1
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
