#!/usr/bin/env bash
# Make sure promtool is there for the alert-rule tests (ops/prometheus): on PATH, or
# in .venv/bin.  When missing, takes it out of Debian's `prometheus` package without
# installing the package (no server, no service): apt-get download, then dpkg-deb -x.
# Does nothing when it is already there; fails loudly when it cannot.
set -euo pipefail

TARGET="${TRIALALERTS_PROMTOOL_DIR:-.venv/bin}"

works() { "$1" --version >/dev/null 2>&1; }

if command -v promtool >/dev/null && works promtool; then
  exit 0
fi
if [ -x "$TARGET/promtool" ] && works "$TARGET/promtool"; then
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "ERROR: $tool not found: put promtool on PATH by hand" >&2; exit 1; }
done
mkdir -p "$TARGET"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetching promtool from Debian's prometheus package" >&2
if ! (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1); then
  # A fresh machine may have no package lists yet.
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
  elif command -v sudo >/dev/null; then
    sudo -n apt-get update -qq
  else
    echo "ERROR: apt-get download prometheus failed and apt-get update needs root (or sudo)" >&2
    exit 1
  fi
  (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1) || {
    echo "ERROR: apt-get download prometheus failed" >&2
    exit 1
  }
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/unpacked"
install -m 0755 "$work/unpacked/usr/bin/promtool" "$TARGET/promtool"

if ! works "$TARGET/promtool"; then
  echo "ERROR: promtool was unpacked to $TARGET but does not run" >&2
  exit 1
fi
