"""Loading a model in stock LiteRT, in a child process.

``check_load(path)`` runs ``python -m mobilepack.inspect.loadcheck MODEL RESULT`` and
reads the JSON the child writes to RESULT.  A crash inside the runtime ends the child,
not the caller, and is reported as ``status="crashed"``.  The child imports only
``ai_edge_litert`` (never TensorFlow)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class LoadCheck:
    status: str                     # "ok" | "failed" | "crashed" | "timeout"
    message: str = ""               # LiteRT's own message (first lines) when it failed
    unresolved_ops: tuple[str, ...] = ()
    flex_unsupported: bool = False
    malformed: bool = False         # LiteRT's own verifier refused the flatbuffer

    def to_dict(self) -> dict:
        return {"status": self.status, "message": self.message, "unresolved_ops": list(self.unresolved_ops)}


def _classify(message: str) -> LoadCheck:
    unresolved = tuple(dict.fromkeys(re.findall(r"unresolved custom op: ([^\s.]+)", message)))
    flex = "Select TensorFlow op" in message or "Flex" in message and "not supported" in message
    malformed = "not a valid Flatbuffer" in message or "Model provided has model identifier" in message
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip() and not ln.startswith("See instructions")]
    return LoadCheck("failed", " | ".join(lines[:3])[:500], unresolved, flex, malformed)


def check_load(path: str | Path, *, timeout: float = DEFAULT_TIMEOUT) -> LoadCheck:
    with tempfile.TemporaryDirectory(prefix="mobilepack-load-") as tmp:
        result = Path(tmp) / "result.json"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        try:
            proc = subprocess.run([sys.executable, "-m", "mobilepack.inspect.loadcheck", str(path), str(result)],
                                  capture_output=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return LoadCheck("timeout", f"LiteRT did not finish loading the model within {timeout:.0f} s")
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            return LoadCheck("crashed", f"LiteRT crashed ({name}) while loading the model")
        try:
            data = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            return LoadCheck("crashed", f"the LiteRT child process exited with {proc.returncode}: {tail[0][:300]}")
    if data.get("ok"):
        return LoadCheck("ok")
    return _classify(data.get("error", ""))


def _limit_memory(model_path: str) -> None:
    """A corrupted shape can ask for absurd tensors: cap the child's address space."""
    import resource

    limit = max(8 << 30, 6 * os.path.getsize(model_path) + (2 << 30))
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


def _child(model_path: str, result_path: str) -> int:
    _limit_memory(model_path)
    try:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=model_path)
        interpreter.allocate_tensors()
        payload = {"ok": True}
    except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its own message
        payload = {"ok": False, "error": str(exc)}
    Path(result_path).write_text(json.dumps(payload), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
