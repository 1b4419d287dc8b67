#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when missing: a PostgreSQL server (the tests
# start their own throwaway cluster with initdb/pg_ctl; nothing is configured system-wide) and
# Chromium (the browser tests drive Debian's chromium, never a downloaded browser), Node.js (the
# dashboard's proof-checking script is tested under it) and a Java runtime
# (the analytics test runs on a local Spark session).
set -euo pipefail
need=()
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
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run: sudo apt-get install -y ${need[*]});" \
       "the tests that need them will be skipped" >&2
  [ -n "${CI:-}" ] && exit 1
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
