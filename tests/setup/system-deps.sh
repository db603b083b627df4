#!/usr/bin/env bash
# Installs the system tools some tests need (Debian packages, npm packages, Maven jars).
# Runs as part of `make test`.  Without root/apt/npm it does nothing and the tests that
# need a missing tool skip with a visible reason (in CI, CI=true turns such skips into failures).
# Every list below is the single place to add a tool; downloads are cached.
set -u
APT_PACKAGES_FILE="$(dirname "$0")/apt-packages.txt"
NPM_PACKAGES_FILE="$(dirname "$0")/npm-packages.txt"
STAMP_DIR="${MOBILEPACK_SETUP_CACHE:-$HOME/.cache/mobilepack-test-setup}"
mkdir -p "$STAMP_DIR"

want_apt=()
if [ -f "$APT_PACKAGES_FILE" ]; then
  while read -r pkg _; do
    case "$pkg" in ''|'#'*) continue;; esac
    dpkg -s "$pkg" >/dev/null 2>&1 || want_apt+=("$pkg")
  done < "$APT_PACKAGES_FILE"
fi
if [ "${#want_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test setup: apt-get install ${want_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -f "$STAMP_DIR/apt-updated" ] || [ -n "$(find "$STAMP_DIR/apt-updated" -mmin +720 2>/dev/null)" ]; then
      apt-get update -qq && touch "$STAMP_DIR/apt-updated"
    fi
    apt-get install -y -qq --no-install-recommends "${want_apt[@]}" >/dev/null || echo "test setup: apt-get failed; dependent tests will skip" >&2
  else
    echo "test setup: not root or no apt-get; missing: ${want_apt[*]} (dependent tests will skip)" >&2
  fi
fi

if [ -f "$NPM_PACKAGES_FILE" ] && command -v npm >/dev/null; then
  NPM_PREFIX="${MOBILEPACK_NPM_PREFIX:-$PWD/.cache/npm-tools}"
  while read -r pkg _; do
    case "$pkg" in ''|'#'*) continue;; esac
    name="${pkg%@*}"
    if [ ! -d "$NPM_PREFIX/lib/node_modules/$name" ] && [ ! -d "$NPM_PREFIX/node_modules/$name" ]; then
      echo "test setup: npm install $pkg"
      npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" "$pkg" >/dev/null || echo "test setup: npm install $pkg failed" >&2
    fi
  done < "$NPM_PACKAGES_FILE"
fi

# Further set-up scripts (e.g. Maven jars) live beside this one as setup-*.sh.
for extra in "$(dirname "$0")"/setup-*.sh; do
  [ -f "$extra" ] && bash "$extra"
done
exit 0
