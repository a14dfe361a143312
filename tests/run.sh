#!/usr/bin/env bash
# The test command: installs what the suites need on a fresh machine, then runs them all.
#   - chromium (Debian package) for the headless-browser test, if it is missing;
#   - PostgreSQL's server binaries (Debian package postgresql) for tests/postgres_store.rs,
#     if they are missing and DATABASE_URL is not set: the tests start (and stop) a
#     throwaway cluster of their own on 127.0.0.1 (tests/support/postgres.rs);
#   - the pinned npm packages: oidc-provider (interop suite), playwright-core (drives chromium);
#   - cargo test with every feature (the OS-keyring store's tests included).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (Debian package) for tests/cli_browser.rs"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

if [ -z "${DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "== installing postgresql (Debian package) for tests/postgres_store.rs"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  # The server binaries only: the package's own cluster is not started (a policy-rc.d
  # that refuses, put in place for the install if the machine has none), and the tests
  # do not use it.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  $sudo_cmd apt-get install -y -qq postgresql >/dev/null
  if [ -n "$own_policy" ]; then $sudo_cmd rm -f /usr/sbin/policy-rc.d; fi
fi

for dir in tests/interop tests/browser; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "== npm ci in $dir (pinned by its package-lock.json)"
    npm ci --prefix "$dir" --no-audit --no-fund
  fi
done

cargo test --all-features "$@"
