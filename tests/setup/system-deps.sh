#!/usr/bin/env bash
# Installs the system packages mobilepack and its tests need (Debian packages, npm packages, Maven jars).
#
#   system-deps.sh            everything (`make test`): runtime, runtime-optional and test packages,
#                             npm packages and setup-*.sh; without root/apt it installs nothing and
#                             the tests that need a missing tool skip with a visible reason (CI=true
#                             turns such skips into failures).
#   system-deps.sh --runtime  only what mobilepack itself needs (`make demo`): as root it apt-installs
#                             the missing runtime packages; otherwise it names them exactly and exits 1
#                             when a required one is missing (a missing optional one is a note).
#
# apt-packages.txt is the single list (NAME TAG per line); downloads are cached.
set -u
MODE="all"
[ "${1:-}" = "--runtime" ] && MODE="runtime"
APT_PACKAGES_FILE="${MOBILEPACK_APT_PACKAGES:-$(dirname "$0")/apt-packages.txt}"
NPM_PACKAGES_FILE="$(dirname "$0")/npm-packages.txt"
STAMP_DIR="${MOBILEPACK_SETUP_CACHE:-$HOME/.cache/mobilepack-test-setup}"
mkdir -p "$STAMP_DIR"

want_apt=()       # missing packages this mode installs
missing_req=()    # missing runtime packages
missing_opt=()    # missing runtime-optional packages
if [ -f "$APT_PACKAGES_FILE" ]; then
  while read -r pkg tag _; do
    case "$pkg" in ''|'#'*) continue;; esac
    tag="${tag:-test}"
    [ "$MODE" = runtime ] && [ "$tag" = test ] && continue
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
      want_apt+=("$pkg")
      case "$tag" in runtime) missing_req+=("$pkg");; runtime-optional) missing_opt+=("$pkg");; esac
    fi
  done < "$APT_PACKAGES_FILE"
fi
installed=0
if [ "${#want_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "system setup: apt-get install ${want_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -f "$STAMP_DIR/apt-updated" ] || [ -n "$(find "$STAMP_DIR/apt-updated" -mmin +720 2>/dev/null)" ]; then
      apt-get update -qq && touch "$STAMP_DIR/apt-updated"
    fi
    if apt-get install -y -qq --no-install-recommends "${want_apt[@]}" >/dev/null; then
      installed=1
    else
      echo "system setup: apt-get failed" >&2
    fi
  fi
fi
if [ "$installed" = 0 ] && [ "${#want_apt[@]}" -gt 0 ]; then
  if [ "$MODE" = runtime ]; then
    if [ "${#missing_opt[@]}" -gt 0 ]; then
      echo "note: without ${missing_opt[*]} the GPU check is skipped (install: apt-get install ${missing_opt[*]})" >&2
    fi
    if [ "${#missing_req[@]}" -gt 0 ]; then
      echo "error: mobilepack needs these Debian packages: ${missing_req[*]}" >&2
      echo "  hint: as root, run: apt-get install ${missing_req[*]}   (or run make demo as root)" >&2
      exit 1
    fi
  else
    echo "test setup: not root, no apt-get or apt failed; missing: ${want_apt[*]} (dependent tests will skip)" >&2
  fi
fi
[ "$MODE" = runtime ] && exit 0

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
