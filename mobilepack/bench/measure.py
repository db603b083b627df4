"""The timing loop that runs inside a fresh child process, one configuration per process.

It follows the shared benchmark definition (:mod:`mobilepack.bench.definition`): open the model (``init_us``),
prepare the input pattern once, one first iteration (``first_us``), the warm-up iterations (``warmup`` of
them, but no longer than ``max_seconds`` counted from the first iteration's start: none when the first one
alone took that long, so a slow model's first run is its warm-up), then timed iterations. One iteration copies the prepared inputs into the
input tensors, invokes, and reads every output back (for the GPU, reading the outputs is what waits for the
asynchronous work to finish).

Stop rule: at least ``runs`` iterations and ``min_seconds`` — or, with ``target_ci`` > 0 and a ``floor_runs``
below ``runs``, at least ``floor_runs`` once ``max_seconds`` has passed (``build``'s default: a slow
configuration is timed for its time budget, not for 10 runs); then, with ``target_ci`` > 0, stop as soon as
the 95 % confidence interval of the headline latency (the 20 % trimmed mean, :mod:`mobilepack.bench.stats`) is
within ± ``target_ci`` of it (adaptive), or with ``target_ci`` = 0 right away (fixed); adaptive timing also
stops at ``max_seconds`` (once the minimum run count is reached) and at ``max_runs`` runs (default 50, the
fixed scheme's count, so adaptive timing never spends more runs than it). ``hard_seconds`` (half the
configuration's timeout) cuts everything.

``functional`` (a software GPU such as SwiftShader): no latency series — compile, at most
three iterations, and the outputs compared with the reference CPU kernels on the same inputs."""

from __future__ import annotations

import time

FUNCTIONAL_ITERATIONS = 3        # compile + at most this many invocations on a software GPU
FUNCTIONAL_MIN_COSINE = 0.99     # GPU (fp16 arithmetic) vs reference CPU kernels


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
    from mobilepack.bench.definition import pattern_inputs
    from mobilepack.runtime.delegates import open_session

    now = time.perf_counter_ns
    start = now()
    try:
        session = open_session(request["delegate"], request["model"], int(request["threads"]),
                               request.get("input_shapes"))
    except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its reason
        return {"ok": False, "stage": "init", "error": str(exc)}
    init_us = (now() - start) / 1000
    try:
        prepared = pattern_inputs(session.inputs)

        def iteration() -> list:
            session.feed(prepared)
            return session.run()

        t = now()
        first_out = iteration()
        first_us = (now() - t) / 1000
        if request.get("functional"):
            return _functional(request, session, iteration, first_out, init_us, first_us, now)
        warmup_us = []
        warm_ns = float(request.get("max_seconds", 60.0)) * 1e9
        warm_start = t   # the first inference warms up too: it counts towards the warm-up's time
        # a slow model: no more than max_seconds, and none once the first inference alone has taken them
        while len(warmup_us) < int(request["warmup"]) and now() - warm_start < warm_ns:
            t = now()
            iteration()
            warmup_us.append((now() - t) / 1000)
        rss_before, _ = _rss_kib()
        samples, stop = _timed(iteration, runs=int(request["runs"]), min_seconds=float(request["min_seconds"]),
                               max_seconds=float(request.get("max_seconds", 60.0)),
                               target_ci=float(request.get("target_ci", 0.0)), now=now,
                               max_runs=request.get("max_runs"), floor_runs=request.get("floor_runs"),
                               hard_seconds=request.get("hard_seconds"))
    except Exception as exc:
        return {"ok": False, "stage": "run", "error": str(exc), "fully_delegated": session.fully_delegated}
    rss_after, peak = _rss_kib()
    return {"ok": True, "init_us": init_us, "first_us": first_us, "warmup_us": warmup_us, "samples_us": samples,
            "stop": stop, "rss_kib_before": rss_before, "rss_kib_after": rss_after, "peak_rss_kib": peak,
            "fully_delegated": session.fully_delegated}


PROBE_CHILD = "mobilepack.bench.measure:probe_in_child"


def probe_in_child(request: dict) -> dict:
    """Lint's GPU probe on a software GPU (``runtime.gpu.probe_gpu(functional=PROBE_CHILD)``): the
    GPU session bench's functional check opens (the probe's GPU-only compilation) and that check on
    it — :func:`measure_in_child` with a functional request — so bench need not compile it again.
    Answers as the probe's own child does (``compiled``, ``fully``, ``error``), plus ``functional``:
    the check's answer, where the model compiled."""
    from mobilepack.runtime.delegates import get

    answer = measure_in_child({"model": request["model"], "delegate": get("gpu").to_dict(), "threads": 1,
                               "functional": True})
    if not answer["ok"] and answer["stage"] == "init":
        return {"compiled": False, "error": answer["error"]}
    return {"compiled": True, "fully": bool(answer["fully_delegated"]), "error": None, "functional": answer}


def _timed(iteration, *, runs: int, min_seconds: float, max_seconds: float, target_ci: float, now,
           hard_seconds: float | None = None, max_runs: int | None = None,
           floor_runs: int | None = None) -> tuple[list, str]:
    """Timed iterations until the stop rule holds; (samples in µs, why it stopped).  The minimum run
    count is honoured past ``max_seconds`` — adaptive timing with a ``floor_runs`` below it needs only
    ``floor_runs`` there; only ``hard_seconds`` (the configuration's time budget) cuts it."""
    from mobilepack.bench.stats import TrimmedStop

    min_ns, max_ns = min_seconds * 1e9, max_seconds * 1e9
    floor = min(runs, floor_runs) if floor_runs is not None and target_ci > 0 else runs
    hard_ns = (hard_seconds if hard_seconds is not None else max(max_seconds, 60.0)) * 1e9
    running = TrimmedStop()
    samples: list[float] = []
    loop_start = now()
    while True:
        t = now()
        iteration()
        end = now()
        us = (end - t) / 1000
        samples.append(us)
        if target_ci > 0:   # the sorted runs serve only the adaptive rule
            running.add(us)
        elapsed = end - loop_start
        if (len(samples) >= runs or (len(samples) >= floor and elapsed >= max_ns)) and elapsed >= min_ns:
            if target_ci <= 0:
                return samples, "runs"
            if running.ci_rel() <= target_ci:
                return samples, "ci"
            if max_runs is not None and len(samples) >= max_runs:
                # past the cap already when --min-seconds let timing stop at all: the minimum decided
                return samples, "min_seconds" if len(samples) > max_runs else "max_runs"
            if elapsed >= max_ns:
                return samples, "max_seconds"
        elif elapsed >= hard_ns:
            return samples, "time_limit"


def _functional(request, session, iteration, first_out, init_us, first_us, now) -> dict:
    """Software GPU: at most FUNCTIONAL_ITERATIONS invocations, numerics vs the reference kernels."""
    times = []
    out = first_out
    for _ in range(FUNCTIONAL_ITERATIONS - 1):
        t = now()
        out = iteration()
        times.append((now() - t) / 1000)
    rss_after, peak = _rss_kib()
    return {"ok": True, "init_us": init_us, "first_us": first_us, "warmup_us": [], "samples_us": times,
            "stop": "functional", "rss_kib_before": rss_after, "rss_kib_after": rss_after, "peak_rss_kib": peak,
            "fully_delegated": session.fully_delegated,
            "numerics": compare_with_reference(request["model"], session, out)}


def compare_with_reference(model_path: str, session, outputs: list) -> dict:
    """Outputs of ``session`` (pattern inputs) vs LiteRT's reference CPU kernels on the same inputs."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from mobilepack.bench.definition import pattern_array
    from mobilepack.runtime.tensor_io import Runner

    it = Interpreter(model_path=model_path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    runner = Runner(it)   # the session's outputs come in its signature's order, or the subgraph's without one
    feeds = {n: pattern_array(d["shape"], d["dtype"]) for n, d in runner.inputs.items()}
    ref = runner(**feeds)
    names = list(runner.outputs)
    a = np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in outputs])
    b = np.concatenate([np.asarray(ref[n], dtype=np.float64).ravel() for n in names])
    if a.shape != b.shape:
        return {"ok": False, "max_abs_err": None, "cosine": None,
                "message": f"output sizes differ: {a.size} on the GPU vs {b.size} on the CPU"}
    finite = bool(np.isfinite(a).all())
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = float(np.dot(a, b) / denom) if denom > 0 else (1.0 if err == 0 else 0.0)
    ok = finite and cosine >= FUNCTIONAL_MIN_COSINE
    return {"ok": ok, "max_abs_err": err if finite else None, "cosine": cosine if finite else None,
            "message": None if ok else ("non-finite GPU outputs" if not finite else
                                        f"cosine {cosine:.4f} < {FUNCTIONAL_MIN_COSINE} vs the reference CPU kernels")}
