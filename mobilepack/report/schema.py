"""Versions of the machine-readable results.  Bump on any key change; contract
tests pin the keys of each schema."""

CONVERT_SCHEMA_VERSION = "1.0"
COMPRESS_SCHEMA_VERSION = "1.0"


def tool_versions() -> dict[str, str | None]:
    """Versions of mobilepack and the libraries that produce results (no imports).  The map's keys
    are the libraries in use (open-ended data, not schema keys): ``flatbuffers`` builds the metadata
    since mobilepack stopped using tflite-support."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from mobilepack._version import __version__

    out: dict[str, str | None] = {"mobilepack": __version__, "python": platform.python_version()}
    for dist in ("tensorflow", "keras", "ai-edge-litert", "flatbuffers", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out

# ``mobilepack metadata --json`` and ``mobilepack inspect --json`` (issue 3)
METADATA_SCHEMA_VERSION = "1.0"
INSPECT_SCHEMA_VERSION = "1.0"

# ``mobilepack bench --json`` and bench.json (issue 4); keys pinned by tests/test_bench_report.py
BENCH_SCHEMA_VERSION = "1.0"
# The benchmark definition every producer follows (host bench, Android app, iOS app; docs/benchmarks.md):
# deterministic inputs (i * 7919 mod 256 pattern) filled before timing; timed region = copy inputs in +
# invoke + copy every output out; first_us = first iteration after init.  Documents carry it as
# "definition"; `report --import` refuses to merge documents whose definitions differ.
BENCH_DEFINITION = "mobilepack.timing.v1"
