"""Resource limits of native-inference child processes: a memory cap and a timeout.
The parent records what happened to the child and carries on."""

from __future__ import annotations

import time

import pytest

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


def whoami(request: dict) -> dict:
    """Child: its process facts and the environment it was given."""
    import os

    return {"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0), "marker": os.environ.get("MP_MARKER"),
            "icd": os.environ.get("VK_ICD_FILENAMES")}


def test_children_are_separate_sessions_with_the_callers_environment(monkeypatch):
    """Forked from the zygote or started anew, a child is its own process and session and sees the
    caller's current environment plus the request's variables."""
    import os

    from mobilepack.runtime import child

    monkeypatch.setenv("MP_MARKER", "first")
    a = run_in_child("tests.test_runtime_limits:whoami", {}, timeout=60, env={"VK_ICD_FILENAMES": "/x.json"})
    monkeypatch.setenv("MP_MARKER", "second")
    b = run_in_child("tests.test_runtime_limits:whoami", {}, timeout=60)
    for o in (a, b):
        assert o.answer["pid"] != os.getpid() and o.answer["sid"] == o.answer["pid"]
    assert (a.answer["marker"], a.answer["icd"]) == ("first", "/x.json")
    assert (b.answer["marker"], b.answer["icd"]) == ("second", os.environ.get("VK_ICD_FILENAMES"))
    if child._ZYGOTE.pids() and not child._ZYGOTE.broken:
        assert a.answer["ppid"] in child._ZYGOTE.pids()          # forked from a pre-warmed zygote
    monkeypatch.setenv("MOBILEPACK_CHILD_FORK", "0")
    c = run_in_child("tests.test_runtime_limits:whoami", {}, timeout=60)
    assert c.answer["ppid"] == os.getpid()                       # a new interpreter, started by us


def test_hung_forked_child_is_killed_and_the_zygote_serves_the_next():
    hung = run_in_child("tests.test_runtime_limits:hang", {}, timeout=2)
    assert hung.timed_out
    after = run_in_child("tests.test_runtime_limits:whoami", {}, timeout=60)
    assert after.answer is not None and after.returncode == 0


def nap(request: dict) -> dict:
    """Child: sleep ``seconds``; its pid, parent and wall-clock interval."""
    import os
    import time

    start = time.time()
    time.sleep(request["seconds"])
    return {"pid": os.getpid(), "ppid": os.getppid(), "start": start, "end": time.time()}


def _naps(workers: int, count: int = 3, seconds: float = 0.6) -> list[dict]:
    from mobilepack.runtime.pool import run_concurrently

    outcomes = run_concurrently(lambda i: run_in_child("tests.test_runtime_limits:nap", {"seconds": seconds},
                                                       timeout=60), list(range(count)), workers)
    return [o.answer for o in outcomes]


def test_children_run_side_by_side_each_from_its_own_zygote():
    """run_concurrently with 2 workers: children overlap in time, forked from two zygotes; with 1
    worker they run one after another from one zygote.  Results come back in the items' order."""
    from mobilepack.runtime import child

    one = _naps(1)
    assert all(a["end"] <= b["start"] for a, b in zip(one, one[1:]))
    two = _naps(2)
    assert len({a["pid"] for a in two}) == 3
    assert any(a["start"] < b["end"] and b["start"] < a["end"] for a in two for b in two if a is not b)
    if not child._ZYGOTE.broken and child._fork_allowed():
        assert len({a["ppid"] for a in two}) == 2                 # a second zygote served the second worker
        assert {a["ppid"] for a in one} <= {a["ppid"] for a in two}


def test_interrupted_concurrent_children_are_killed(monkeypatch):
    """Ctrl-C while two children run: both are killed (not waited for), and the interrupt reaches the
    caller; the zygotes serve the next child."""
    import time

    from mobilepack.runtime.pool import run_concurrently

    calls = []

    def on_done(i, outcome):
        calls.append(outcome)
        raise KeyboardInterrupt

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_concurrently(lambda s: run_in_child("tests.test_runtime_limits:nap", {"seconds": s}, timeout=120),
                         [0.1, 60, 60], 2, on_done=on_done)
    assert time.perf_counter() - t0 < 30 and len(calls) == 1
    after = run_in_child("tests.test_runtime_limits:whoami", {}, timeout=60)
    assert after.answer is not None and after.returncode == 0


def test_child_workers_follow_jobs_and_the_cores(monkeypatch):
    from mobilepack.runtime.pool import child_workers

    monkeypatch.setenv("MOBILEPACK_CHILD_WORKERS", "8")
    assert child_workers() == 2 and child_workers("auto") == 2 and child_workers("1") == 1
    monkeypatch.setenv("MOBILEPACK_CHILD_WORKERS", "1")
    assert child_workers("2") == 1


def test_prestart_starts_as_many_zygotes_as_asked_once(tmp_path):
    """A build starts the second zygote when its conversions end (``prestart(2)``), not when lint's first
    two probes wait for it: two live zygotes, started once however often it is asked, and both serve."""
    from mobilepack.runtime import child
    from mobilepack.runtime.pool import _ZygotePool, run_concurrently

    if not child._fork_allowed():
        pytest.skip("forking children is switched off here (MOBILEPACK_CHILD_FORK=0)")
    pool = _ZygotePool()
    try:
        pool.prestart(2)
        started = pool.pids()
        pool.prestart(2)
        assert len(started) == 2 and pool.pids() == started
        job = {"target": "tests.test_runtime_limits:whoami", "request": {}, "environ": {}, "sys_path": [],
               "cwd": "."}
        # each served by a zygote already started: no new one appears
        served = run_concurrently(lambda i: pool.run({**job, "result": str(tmp_path / f"answer{i}.json"),
                                                      "log": str(tmp_path / f"log{i}.txt")}, 60, {}), [0, 1], 2)
        assert served == [(0, False), (0, False)] and pool.pids() == started
        assert all((tmp_path / f"answer{i}.json").exists() for i in (0, 1))
    finally:
        for client in pool.clients:
            client.close()
