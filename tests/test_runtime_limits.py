"""Resource limits of native-inference child processes: a memory cap and a timeout.
The parent records what happened to the child and carries on."""

from __future__ import annotations

import time

from mobilepack.runtime.child import run_in_child


def allocate(request: dict) -> dict:
    """Child: try to allocate ``request['mib']`` MiB."""
    block = bytearray(request["mib"] << 20)
    return {"allocated": len(block)}


def hang(request: dict) -> dict:
    """Child: a 'delegate' that never returns."""
    while True:
        time.sleep(1)


def test_memory_cap_stops_an_absurd_allocation():
    small = run_in_child("tests.test_runtime_limits:allocate", {"mib": 64}, timeout=60,
                         env={"MOBILEPACK_CHILD_MEMORY_MB": "1024"})
    assert small.answer == {"allocated": 64 << 20}
    huge = run_in_child("tests.test_runtime_limits:allocate", {"mib": 4096}, timeout=60,
                        env={"MOBILEPACK_CHILD_MEMORY_MB": "1024"})
    assert huge.answer is None and huge.failure() is not None
    assert "MemoryError" in huge.log


def test_hung_child_is_killed_and_recorded():
    t0 = time.monotonic()
    outcome = run_in_child("tests.test_runtime_limits:hang", {}, timeout=3)
    assert outcome.timed_out and outcome.failure().startswith("timed out")
    assert time.monotonic() - t0 < 30
