#!/usr/bin/env bash
# Finds the Python that `make demo` and `make test` build the virtual environment with.
#
#   find-python.sh               the newest supported Python found: its path on stdout, and
#                                "using Python 3.13.0 (/path)" on stderr
#   find-python.sh --minor 3.12  only that version: its path on stdout, nothing else; exit 1 if none
#   find-python.sh --venv DIR    also make DIR a venv of the chosen Python: created when missing,
#                                recreated (with a message) when it was made with another Python.
#                                DIR/.stamp-python names the interpreter and is rewritten only when
#                                it changes, so the Makefile's install stamps that depend on it rerun.
#   --dry-run                    with --venv: say what would happen and change nothing (make -n)
#   --quiet                      no "using Python" line
#
# Supported: 3.13, 3.12, 3.11, newest first.  For each: python3.X on PATH, then
# $(pyenv root)/versions/3.X*/bin/python3.X (else $PYENV_ROOT, else ~/.pyenv), newest first.  A
# candidate counts only when it runs and reports that version (a pyenv shim for a version that is not
# selected exits with "command not found" and is passed over), can make a venv (ensurepip; Debian's
# python3.X-venv) and is not a free-threaded build (no TensorFlow wheels).
# PYTHON=... (`make PYTHON=...`) wins over the search, but must be a supported version.
set -u
SUPPORTED=(3.13 3.12 3.11)
minor="" venv="" dry=0 quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minor) minor="${2:?--minor needs a version such as 3.12}"; shift 2;;
    --venv) venv="${2:?--venv needs a directory}"; shift 2;;
    --dry-run) dry=1; shift;;
    --quiet) quiet=1; shift;;
    *) echo "find-python.sh: unknown argument: $1" >&2; exit 2;;
  esac
done

# probe EXE: one line "STATE<TAB>X.Y.Z<TAB>sys.executable<TAB>real base prefix", STATE ok|novenv|freethreaded;
# nothing when it does not run.
probe() {
  local limit=()
  command -v timeout >/dev/null && limit=(timeout 60)
  "${limit[@]}" "$1" -c '
import os, sys, sysconfig
state = "freethreaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else "ok"
try:
    import ensurepip, venv
except ImportError:
    state = "novenv"
print(state, "%d.%d.%d" % sys.version_info[:3], sys.executable, os.path.realpath(sys.base_prefix), sep="\t")
' </dev/null 2>/dev/null | tail -n 1
}

pyenv_roots() {
  { pyenv root 2>/dev/null; [ -n "${PYENV_ROOT:-}" ] && echo "$PYENV_ROOT"; echo "$HOME/.pyenv"; } | awk 'NF && !seen[$0]++'
}

# candidates X.Y: every pythonX.Y on PATH, then pyenv's X.Y* versions (newest first)
candidates() {
  local dir root exe
  local IFS=:
  for dir in $PATH; do
    [ -n "$dir" ] && [ -x "$dir/python$1" ] && printf '%s\n' "$dir/python$1"
  done
  IFS=$'\n'
  for root in $(pyenv_roots); do
    for exe in "$root"/versions/"$1"*/bin/python"$1"; do
      [ -x "$exe" ] && printf '%s\n' "$exe"
    done | sort -r -V
  done
}

notes=()
# find_minor X.Y: sets state/version/exe/base of the first good candidate; 1 when there is none
find_minor() {
  local cand line seen=" "
  while IFS= read -r cand; do
    case "$seen" in *" $(readlink -f "$cand") "*) continue;; esac
    seen="$seen$(readlink -f "$cand") "
    line="$(probe "$cand")"
    IFS=$'\t' read -r state version exe base <<< "$line"
    [ -n "$line" ] && [ "${version%.*}" = "$1" ] || continue
    case "$state" in
      ok) return 0;;
      novenv) notes+=("note: passed over $cand (Python $version): it cannot make a venv (no ensurepip; Debian: apt-get install python$1-venv)");;
      freethreaded) notes+=("note: passed over $cand (Python $version): a free-threaded build (TensorFlow has no wheels for it)");;
    esac
  done < <(candidates "$1")
  return 1
}

supported_words="${SUPPORTED[*]}"
supported_text="3.11, 3.12 or 3.13"
if [ -n "$minor" ]; then
  find_minor "$minor" || { [ "${#notes[@]}" -gt 0 ] && printf '%s\n' "${notes[@]}" >&2; exit 1; }
  printf '%s\n' "$exe"
  exit 0
elif [ -n "${PYTHON:-}" ]; then
  line="$(probe "$PYTHON")"
  IFS=$'\t' read -r state version exe base <<< "$line"
  if [ -z "$line" ]; then
    echo "error: PYTHON=$PYTHON does not run; mobilepack needs Python $supported_text (leave PYTHON unset to search for one)" >&2
    exit 1
  fi
  case " $supported_words " in
    *" ${version%.*} "*) ;;
    *) echo "error: PYTHON=$PYTHON is Python $version; mobilepack needs Python $supported_text (leave PYTHON unset to search for one)" >&2
       exit 1;;
  esac
  case "$state" in
    novenv) echo "error: PYTHON=$PYTHON (Python $version) cannot make a venv: no ensurepip (Debian: apt-get install python${version%.*}-venv)" >&2; exit 1;;
    freethreaded) echo "error: PYTHON=$PYTHON (Python $version) is a free-threaded build; TensorFlow has no wheels for it" >&2; exit 1;;
  esac
  chosen="from PYTHON=$PYTHON"
else
  found=0
  for m in "${SUPPORTED[@]}"; do
    if find_minor "$m"; then found=1; break; fi
  done
  [ "${#notes[@]}" -gt 0 ] && printf '%s\n' "${notes[@]}" >&2
  if [ "$found" = 0 ]; then
    echo "error: no supported Python found (mobilepack needs Python $supported_text; looked for python3.X on PATH and in $(pyenv_roots | head -n 1)/versions): install one (e.g. pyenv install 3.13) or name it: make PYTHON=/path/to/python3.13 test" >&2
    exit 1
  fi
  chosen=""
fi
[ "$quiet" = 1 ] || echo "using Python $version ($exe)${chosen:+ $chosen}" >&2
printf '%s\n' "$exe"
[ -z "$venv" ] && exit 0

# The venv: same interpreter (version and installation) or made again.
want="$version $base"
stamp="$venv/.stamp-python"
if [ -f "$venv/pyvenv.cfg" ]; then
  line="$(probe "$venv/bin/python")"
  IFS=$'\t' read -r _ have_version _ have_base <<< "$line"
  if [ -n "$line" ] && [ "$have_version $have_base" = "$want" ]; then
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] && [ "$dry" = 0 ]; then
      printf '%s\n' "$want" > "$stamp"
    fi
    exit 0
  fi
  if [ -n "$line" ]; then
    why="was made with Python $have_version ($have_base), not $version ($base)"
  else
    why="has a Python that no longer runs"
  fi
  if [ "$dry" = 1 ]; then
    echo "$venv $why: it would be recreated" >&2
    exit 0
  fi
  echo "$venv $why: recreating it" >&2
  rm -rf -- "$venv"
elif [ -d "$venv" ] && [ -n "$(ls -A "$venv")" ]; then
  echo "error: $venv exists but is not a virtual environment (no pyvenv.cfg): remove it or set VENV=another/dir" >&2
  exit 1
fi
if [ "$dry" = 1 ]; then
  echo "$venv would be created with Python $version" >&2
  exit 0
fi
"$exe" -m venv "$venv" || { echo "error: $exe -m venv $venv failed" >&2; exit 1; }
printf '%s\n' "$want" > "$stamp"
