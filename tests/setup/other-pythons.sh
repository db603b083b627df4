#!/usr/bin/env bash
# The other supported Pythons (`make test-versions`; .ci/run runs it after `make test`).
#
# `make test` runs the full suite on the Python that find-python.sh chooses (the newest found, or
# PYTHON=...).  For each other supported version (3.11, 3.12, 3.13) this script finds an interpreter
# (find-python.sh --minor; found, never assumed) and then: a fresh venv in .cache/pythons/3.X,
# `pip install '.[dev,server]'` (not editable: the package as a wheel, as users get it), `pip check`, and the
# tests marked `smoke` (every quantization mode, metadata for every task, the sample's build, one zoo
# model) against the installed package: PYTHONSAFEPATH=1 and --import-mode=append keep the source
# tree behind site-packages, and MOBILEPACK_TEST_INSTALLED=1 makes conftest.py check that.
# pip's download cache is used.  A version that is not found is skipped with a message, and is a
# failure under CI=true.  A venv is removed after it passed and kept (for a look) when it failed.
# Exit 1 when anything failed; one summary line per version at the end.
#
#   MOBILEPACK_PYTHONS="3.12"  only these versions (default: every supported one but the full suite's)
#   PYTEST_WORKERS (default auto), PYTEST_ARGS, MOBILEPACK_PYTHONS_DIR (default .cache/pythons)
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT" || exit 1
SUPPORTED=(3.13 3.12 3.11)
read -r -a WANTED <<< "${MOBILEPACK_PYTHONS:-${SUPPORTED[*]}}"
DIR="${MOBILEPACK_PYTHONS_DIR:-$ROOT/.cache/pythons}"
WORKERS="${PYTEST_WORKERS:-auto}"

main_exe="$(bash tests/setup/find-python.sh --quiet)" || exit 1
main_version="$("$main_exe" -c 'import platform; print(platform.python_version())')"
echo "other Pythons: the full suite (make test) runs on Python $main_version ($main_exe)"

mapfile -t smoke_files < <(grep -l 'mark\.smoke' tests/test_*.py)
if [ "${#smoke_files[@]}" = 0 ]; then
  echo "error: no test is marked smoke (pytest.mark.smoke) under tests/" >&2
  exit 1
fi

summary=() failed=0
elapsed() { local s=$(( SECONDS - $1 )); printf '%dm%02ds' $(( s / 60 )) $(( s % 60 )); }
fail() { echo "error: Python $1: $2" >&2; summary+=("Python $1: FAILED: $2"); failed=1; }

for minor in "${WANTED[@]}"; do
  case " ${SUPPORTED[*]} " in *" $minor "*) ;; *) fail "$minor" "not a supported version (${SUPPORTED[*]})"; continue;; esac
  [ "$minor" = "${main_version%.*}" ] && [ -z "${MOBILEPACK_PYTHONS:-}" ] && continue
  if ! exe="$(bash tests/setup/find-python.sh --minor "$minor")"; then
    where="python$minor on PATH or \$(pyenv root)/versions/$minor*"
    if [ "${CI:-}" = true ]; then
      fail "$minor" "not found ($where) and CI=true: CI must test every supported version; install it (e.g. pyenv install $minor)"
    else
      echo "skipped: Python $minor not found ($where); install it (e.g. pyenv install $minor) to test it" >&2
      summary+=("Python $minor: skipped (not found)")
    fi
    continue
  fi
  venv="$DIR/$minor"
  py="$venv/bin/python"
  version="$("$exe" -c 'import platform; print(platform.python_version())')"
  echo "== Python $version ($exe): fresh venv $venv, pip install '.[dev,server]', pip check"
  start=$SECONDS
  rm -rf -- "$venv"
  if ! { "$exe" -m venv "$venv" && "$py" -m pip install --quiet --upgrade pip &&
         "$py" -m pip install --quiet '.[dev,server]'; }; then
    fail "$version" "venv or pip install '.[dev,server]' failed (venv kept: $venv)"
    continue
  fi
  if ! "$py" -m pip check; then
    fail "$version" "pip check found broken requirements (venv kept: $venv)"
    continue
  fi
  install_time="$(elapsed "$start")"
  echo "== Python $version: installed and checked in $install_time; smoke tests: ${smoke_files[*]}"
  start=$SECONDS
  # shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
  if ! PYTHONSAFEPATH=1 MOBILEPACK_TEST_INSTALLED=1 "$py" -m pytest -m smoke --import-mode=append \
       -n "$WORKERS" --dist loadfile "${smoke_files[@]}" ${PYTEST_ARGS:-}; then
    fail "$version" "smoke tests failed after $(elapsed "$start") (venv kept: $venv)"
    continue
  fi
  summary+=("Python $version: ok (install + pip check $install_time, smoke tests $(elapsed "$start"))")
  rm -rf -- "$venv"
done

echo "other Pythons:"
[ "${#summary[@]}" -gt 0 ] && printf '  %s\n' "${summary[@]}"
exit "$failed"
