"""Benchmarks on Android phones over ``adb`` with the official ``benchmark_model`` binary.

Per device: read its facts (``getprop``), push the binary and the models to ``/data/local/tmp``,
run ``benchmark_model`` once per (model, delegate, threads) configuration, and parse its output
into the same records as the host benchmark.  Several devices run in parallel, one worker each."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mobilepack.errors import InputError, UsageError
from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore

REMOTE_DIR = "/data/local/tmp"
REMOTE_BINARY = f"{REMOTE_DIR}/benchmark_model"
_PROPS = {"model": "ro.product.model", "manufacturer": "ro.product.manufacturer", "soc": "ro.soc.model",
          "board": "ro.board.platform", "release": "ro.build.version.release", "sdk_int": "ro.build.version.sdk",
          "abi": "ro.product.cpu.abi"}


class Adb:
    """``adb`` (from PATH, or ``$MOBILEPACK_ADB``) bound to one device serial."""

    def __init__(self, serial: str | None = None, exe: str | None = None) -> None:
        self.exe = exe or find_adb()
        self.serial = serial

    def __call__(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess:
        cmd = [self.exe] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(cmd, 124, stdout=_text(exc.stdout),
                                               stderr=f"adb timed out after {timeout:.0f} s")

    def check(self, *args: str, timeout: float = 300.0) -> str:
        proc = self(*args, timeout=timeout)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise AdbError(f"adb {' '.join(args[:2])} failed on {self.serial}: {detail[-1] if detail else proc.returncode}")
        return proc.stdout


class AdbError(Exception):
    pass


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def find_adb() -> str:
    exe = os.environ.get("MOBILEPACK_ADB") or shutil.which("adb")
    if not exe:
        raise InputError("adb not found", "install Android platform-tools (adb) or set MOBILEPACK_ADB to its path")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise InputError(f"adb at {exe} is not an executable file", "fix MOBILEPACK_ADB or put adb on PATH")
    return exe


def list_devices(exe: str | None = None) -> list[str]:
    """Serials of the devices ``adb devices`` lists as ready ("device" state)."""
    proc = Adb(exe=exe)("devices", timeout=60)
    if proc.returncode != 0:
        raise InputError(f"`adb devices` failed: {(proc.stderr or proc.stdout).strip()[:200]}",
                         "check that the adb server can start (adb kill-server; adb start-server)")
    serials = []
    for line in proc.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "device":
            serials.append(parts[0])
    return serials


def choose_devices(serials: list[str] | None, exe: str | None = None) -> list[str]:
    connected = list_devices(exe)
    if not connected:
        raise InputError("no Android device connected (adb devices lists none ready)",
                         "connect a phone with USB debugging enabled and accept the prompt on it")
    if serials:
        missing = [s for s in serials if s not in connected]
        if missing:
            raise InputError(f"device {missing[0]} is not connected", f"connected: {', '.join(connected)}")
        return list(dict.fromkeys(serials))
    return connected


def device_facts(adb: Adb) -> dict:
    facts: dict = {"platform": "android", "serial": adb.serial}
    for key, prop in _PROPS.items():
        value = adb("shell", "getprop", prop, timeout=60).stdout.strip()
        facts[key] = value or None
    if not facts.get("soc"):
        facts["soc"] = facts.get("board")
    if facts.get("sdk_int") and str(facts["sdk_int"]).isdigit():
        facts["sdk_int"] = int(facts["sdk_int"])
    return facts


def benchmark_command(remote_model: str, delegate, threads: int, plan) -> list[str]:
    return ["shell", REMOTE_BINARY, f"--graph={remote_model}", f"--num_threads={threads}",
            f"--num_runs={plan.runs}", f"--warmup_runs={plan.warmup}", f"--min_secs={plan.min_seconds:g}",
            *delegate.adb_flags]


def bench_device(serial: str, plan, binary: Path, *, exe: str | None = None,
                 on_record=None) -> list[dict]:
    """Every configuration of ``plan`` on one device, in order."""
    from mobilepack.bench.engine import empty_record, fail
    from mobilepack.bench.parsers import parse_benchmark_model
    from mobilepack.report.bench import normalize_record

    adb = Adb(serial, exe)
    records: list[dict] = []
    try:
        facts = device_facts(adb)
        adb.check("push", str(binary), REMOTE_BINARY)
        adb.check("shell", "chmod", "755", REMOTE_BINARY, timeout=60)
        for model in plan.models:
            adb.check("push", str(model.path), f"{REMOTE_DIR}/{model.path.name}")
    except AdbError as exc:
        facts = {"platform": "android", "serial": serial}
        for model, delegate, threads in plan.configurations():
            rec = fail(empty_record(model.to_dict(), delegate.name, threads, warmup=plan.warmup, source="adb"),
                       "error", str(exc))
            rec["device"] = facts
            records.append(normalize_record(rec))
        return records
    for model, delegate, threads in plan.configurations():
        rec = empty_record(model.to_dict(), delegate.name, threads, warmup=plan.warmup, source="adb")
        rec["device"] = facts
        proc = adb(*benchmark_command(f"{REMOTE_DIR}/{model.path.name}", delegate, threads, plan), timeout=plan.timeout)
        if proc.returncode == 124:
            fail(rec, "timeout", proc.stderr.strip())
        else:
            parsed = parse_benchmark_model(proc.stdout + "\n" + proc.stderr)
            rec.update(parsed)
            if parsed["status"] == "ok" and delegate.name == "cpu":
                rec["fully_delegated"] = None
        rec = normalize_record(rec)
        records.append(rec)
        if on_record:
            on_record(rec)
    return records


def run_adb_bench(plan, *, binary: str | Path, serials: list[str] | None = None,
                  progress: ProgressCallback | None = None):
    """The plan on every chosen device in parallel (one worker per device)."""
    from mobilepack.bench.engine import BenchResult

    for d in plan.delegates:
        if d.adb_flags is None:
            raise UsageError(f"delegate {d.name!r} cannot run on a phone", "on phones: cpu, xnnpack, gpu, nnapi")
    binary = Path(binary)
    if not binary.is_file():
        raise InputError(f"benchmark binary not found: {binary}",
                         "download the Android benchmark_model binary for the phone's ABI from the TFLite docs")
    exe = find_adb()
    devices = choose_devices(serials, exe)
    on_event = or_ignore(progress)
    total = len(devices) * len(plan.configurations())
    done = [0]

    def record_done(rec: dict) -> None:
        done[0] += 1
        on_event(ProgressEvent("bench", f"{rec['device'].get('serial')}: {rec['model']['file']} · {rec['delegate']}",
                               current=done[0], total=total, warning=rec["status"] != "ok"))

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        futures = [pool.submit(bench_device, s, plan, binary, exe=exe, on_record=record_done) for s in devices]
        records = [rec for f in futures for rec in f.result()]
    return BenchResult(plan=plan, records=tuple(records), host={"platform": "android", "devices": devices},
                       source="adb")
