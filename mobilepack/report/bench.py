"""The bench result schema (``BENCH_SCHEMA_VERSION``): one document, a list of records, one record
per (model, device, delegate, threads) configuration, measured or failed.

The per-record latency keys are the ones the demo apps' in-app benchmark writes
(``mean_us``, ``p50_us``, ``ips``, ...), so their exports and ``adb logcat`` lines merge
into the same report (:func:`normalize_document`)."""

from __future__ import annotations

import datetime as _dt

from mobilepack.report.schema import BENCH_SCHEMA_VERSION, tool_versions

DOCUMENT_KEYS = ("schema_version", "kind", "created", "source", "tool", "settings", "results")

# Every record has exactly these keys (None where not applicable / not measured).
RECORD_KEYS = (
    "model",            # {name, file, variant, bytes, path}
    "device",           # {platform: host|android|ios, ...facts}
    "source",           # host | adb | android-app | ios-app | logcat
    "delegate", "threads",
    "status",           # ok | failed
    "failure",          # None | unsupported_op | delegate_refused | delegate_load_failed | gpu_unavailable
                        #      | unavailable (a plug-in delegate that cannot run here; shown as skipped)
                        #      | crashed | timeout | numerics | error
    "error",            # one-line reason when failed
    "runs", "warmup",
    "init_us", "first_us", "warmup_mean_us",
    "mean_us", "std_us", "min_us", "max_us", "p50_us", "p90_us", "p99_us",
    "ips", "cv", "noisy",
    "peak_rss_bytes", "rss_growth_bytes",
    "fully_delegated",  # True/False, or None where the runtime does not tell
    "adapter", "software", "note",
    "definition",       # the benchmark definition the numbers follow (bench.definition.DEFINITION), or None
    "ci95_us", "ci95_rel",  # 95 % confidence interval of the mean: half-width in µs and as a fraction of it
    "target_ci", "stop",    # the adaptive target (0: fixed run count) and why timing stopped:
                            #   ci | runs | max_runs | max_seconds | time_limit | functional
    "numerics",         # software GPU functional check: {ok, max_abs_err, cosine, message} vs reference CPU
    # additive in 1.0: the headline latency, what it is, and its 95 % interval (adaptive timing stops on it)
    "latency_us",       # host bench: the 20 % trimmed mean of every timed run; imported records: mean_us
    "latency_statistic",  # "trimmed_mean_20" | "mean" (imported records, and host records of < 5 runs)
    "latency_ci95_us", "latency_ci95_rel",
    # additive: the delegate doctor's diagnosis (runtime.departure) where a delegate's outputs departed
    "departure",        # {departure: {op, delegate, label, agreeing, ...}, message, method, ...} or None
)

MODEL_KEYS = ("name", "file", "variant", "bytes", "path")


def document(records: list[dict], *, source: str, settings: dict | None = None) -> dict:
    return {
        "schema_version": BENCH_SCHEMA_VERSION,
        "kind": "bench",
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "source": source,
        "tool": tool_versions(),
        "settings": settings or {},
        "results": [normalize_record(r) for r in records],
    }


def normalize_record(raw: dict, *, model: dict | None = None, device: dict | None = None,
                     source: str | None = None) -> dict:
    """A record with exactly :data:`RECORD_KEYS`; ``model``/``device``/``source`` fill what it lacks
    (the apps put them once per document)."""
    rec = dict.fromkeys(RECORD_KEYS)
    rec.update({k: v for k, v in raw.items() if k in RECORD_KEYS})
    m = dict.fromkeys(MODEL_KEYS)
    m.update({k: v for k, v in (rec.get("model") or model or {}).items() if k in MODEL_KEYS})
    rec["model"] = m
    rec["device"] = dict(rec.get("device") or device or {})
    rec["source"] = rec.get("source") or source or "unknown"
    rec["status"] = "ok" if rec.get("status") == "ok" else "failed"
    if rec["status"] == "failed":
        rec["failure"] = rec.get("failure") or "error"
        rec["error"] = rec.get("error") or rec["failure"]
    rec["software"] = bool(rec.get("software"))
    rec["noisy"] = bool(rec.get("noisy"))
    if rec["status"] == "ok" and rec.get("cv") is None and rec.get("mean_us") and rec.get("std_us") is not None:
        from mobilepack.bench.stats import NOISY_CV

        rec["cv"] = rec["std_us"] / rec["mean_us"]
        rec["noisy"] = rec["cv"] > NOISY_CV
    if rec["status"] == "ok" and rec.get("latency_us") is None and rec.get("mean_us") is not None:
        # records from the apps, adb and older documents: their headline is the mean, its interval the mean's
        rec["latency_us"], rec["latency_statistic"] = rec["mean_us"], "mean"
        rec["latency_ci95_us"], rec["latency_ci95_rel"] = rec.get("ci95_us"), rec.get("ci95_rel")
    if rec["status"] == "ok" and rec.get("ips") is None and rec.get("mean_us"):
        rec["ips"] = 1e6 / rec["mean_us"]
    return rec


def config_label(rec: dict) -> str:
    """``digits_int8.tflite · xnnpack ×2 · Pixel 7`` — unique per configuration in a report."""
    from mobilepack.runtime.delegates import threads_matter

    model = rec["model"].get("file") or rec["model"].get("name") or "?"
    threads = f" ×{rec['threads']}" if rec.get("threads") and threads_matter(rec["delegate"]) else ""
    device = device_label(rec["device"])
    return f"{model} · {rec['delegate']}{threads}" + (f" · {device}" if device != "host" else "")


def device_label(device: dict) -> str:
    if not device or device.get("platform") in (None, "host"):
        return "host"
    name = device.get("model") or device.get("machine") or device.get("serial") or device.get("platform")
    return str(name)
