"""The timing loop that runs inside a fresh child process, one configuration per process.

Order: open the model (init), feed seeded random inputs, one first inference, the warmup
runs, then timed runs until both ``runs`` and ``min_seconds`` are reached (or ``max_seconds``
passes).  An iteration is ``session.run()``, which returns after every output has been read
(for the GPU this is what waits for the asynchronous work to finish)."""

from __future__ import annotations

import time


def _rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from /proc (0 where unavailable)."""
    cur = peak = 0
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return cur, peak


def measure_in_child(request: dict) -> dict:
    from mobilepack.runtime.delegates import open_session, random_inputs

    now = time.perf_counter_ns
    start = now()
    try:
        session = open_session(request["delegate"], request["model"], int(request["threads"]),
                               request.get("input_shapes"))
    except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its reason
        return {"ok": False, "stage": "init", "error": str(exc)}
    init_us = (now() - start) / 1000
    try:
        session.feed(random_inputs(session.inputs, int(request.get("seed", 0))))
        t = now()
        session.run()
        first_us = (now() - t) / 1000
        warmup_us = []
        for _ in range(int(request["warmup"])):
            t = now()
            session.run()
            warmup_us.append((now() - t) / 1000)
        rss_before, _ = _rss_kib()
        runs, min_ns = int(request["runs"]), float(request["min_seconds"]) * 1e9
        max_ns = float(request.get("max_seconds", 60.0)) * 1e9
        samples = []
        loop_start = now()
        while True:
            t = now()
            session.run()
            end = now()
            samples.append((end - t) / 1000)
            elapsed = end - loop_start
            if (len(samples) >= runs and elapsed >= min_ns) or elapsed >= max_ns:
                break
    except Exception as exc:
        return {"ok": False, "stage": "run", "error": str(exc)}
    rss_after, peak = _rss_kib()
    return {"ok": True, "init_us": init_us, "first_us": first_us, "warmup_us": warmup_us, "samples_us": samples,
            "rss_kib_before": rss_before, "rss_kib_after": rss_after, "peak_rss_kib": peak,
            "fully_delegated": session.fully_delegated}
