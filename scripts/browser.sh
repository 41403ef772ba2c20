#!/usr/bin/env bash
# Make sure headless Chromium is there for the browser tests: Debian's `chromium`
# package at /usr/bin/chromium.  Installs it when missing (needs root, or sudo);
# does nothing when it is already installed; fails loudly when it cannot.
set -euo pipefail

CHROMIUM="${TRIALALERTS_CHROMIUM:-/usr/bin/chromium}"

works() { "$CHROMIUM" --headless --no-sandbox --version >/dev/null 2>&1; }

if [ -x "$CHROMIUM" ] && works; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo -n)
else
  echo "ERROR: $CHROMIUM is missing and installing it needs root (or sudo)" >&2
  exit 1
fi

echo "installing Debian's chromium" >&2
command -v apt-get >/dev/null || { echo "ERROR: apt-get not found: install chromium by hand" >&2; exit 1; }
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

if ! [ -x "$CHROMIUM" ] || ! works; then
  echo "ERROR: chromium was installed but $CHROMIUM does not run" >&2
  exit 1
fi
