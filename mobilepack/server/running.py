"""Running the Ray Serve application on this machine: one small local Ray instance (no dashboard, a
small object store, CPUs as asked), Serve's HTTP proxy on a loopback port, the app from OUT/server."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from mobilepack.errors import InputError, MobilepackError, UsageError

HOST = "127.0.0.1"
OBJECT_STORE_BYTES = 80 * 1024 * 1024     # Ray's minimum is 75 MiB; requests are small JSON
READY_TIMEOUT_S = 120.0


class ServeError(MobilepackError):
    """The Ray Serve application did not start (exit 1)."""


def check_server_dir(server_dir: str | Path) -> dict:
    """The ``server.json`` of a ``--target server`` output, or an ``InputError`` saying what to pass."""
    p = Path(server_dir)
    record = p / "server.json"
    if not record.is_file():
        hint = (f"pass {p / 'server'}" if (p / "server" / "server.json").is_file()
                else "pass the server/ folder that `mobilepack build MODEL --target server` wrote")
        raise InputError(f"{p} is not a server target output (no server.json)", hint)
    try:
        return json.loads(record.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{record} cannot be read: {exc}", "rebuild with --target server") from None


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be in 1..65535 (got {port})", "e.g. --port 8000")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise UsageError(f"port {port} on {HOST} is already in use", "pass another --port") from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_ray(num_cpus: int) -> None:
    """A local Ray instance sized for this machine (``num_cpus`` replicas of one CPU each)."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    _quiet()
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                 log_to_driver=False, configure_logging=False, namespace="mobilepack")
    _quiet()


def _quiet() -> None:
    """Stages never print: Ray's start-up and deploy notes stay in its own log files."""
    import logging

    for name in ("ray", "ray.serve", "ray._private", "ray.serve._private"):
        logging.getLogger(name).setLevel(logging.WARNING)


def deploy(server_dir: str | Path, port: int, **overrides) -> str:
    """Start Serve's proxy on ``HOST:port`` (first call) and (re)deploy the app; the predict URL once
    the model answers."""
    from ray import serve

    from mobilepack.server.ray_app import application

    record = check_server_dir(server_dir)
    _quiet()
    serve.start(http_options={"host": HOST, "port": port}, logging_config={"log_level": "WARNING"})
    _quiet()
    serve.run(application(Path(server_dir).absolute(), **overrides), name=record["name"], route_prefix="/",
              blocking=False)
    base = f"http://{HOST}:{port}/v1/models/{record['name']}"
    wait_ready(base)
    return base + ":predict"


def wait_ready(status_url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    end = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(status_url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > end:
            raise ServeError(f"the Ray Serve app did not answer {status_url} within {timeout_s:.0f} s",
                             "rerun with --debug, or look at /tmp/ray/session_latest/logs/serve/")
        time.sleep(0.25)


def stop() -> None:
    """Ray's local instance down, Serve's proxy, controller and replicas with it."""
    import ray

    ray.shutdown()
