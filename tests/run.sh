#!/usr/bin/env bash
# The test command: installs what the suites need on a fresh machine, then runs them all.
#   - chromium (Debian package) for the headless-browser test, if it is missing;
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

for dir in tests/interop tests/browser; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "== npm ci in $dir (pinned by its package-lock.json)"
    npm ci --prefix "$dir" --no-audit --no-fund
  fi
done

cargo test --all-features "$@"
