"""Loading a model in stock LiteRT, in a child process.

``check_load(path)`` runs :func:`load_in_child` in a child process (``runtime.child``: forked from
the pre-warmed zygote, or a new interpreter) and reads its JSON answer; ``python -m
mobilepack.inspect.loadcheck MODEL RESULT [SHAPES]`` runs the same check by hand.  A model whose allocation fails at the placeholder
shape of a dynamic (-1) input is ``status="needs_input_shape"``, not a load failure: it runs
once that input is resized (``input_shapes``, the ``--input-shape`` option of inspect/bench).  A crash inside the runtime ends the child,
not the caller, and is reported as ``status="crashed"``.  The child imports only
``ai_edge_litert`` (never TensorFlow)."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class LoadCheck:
    status: str                     # "ok" | "needs_input_shape" | "failed" | "crashed" | "timeout"
    message: str = ""               # LiteRT's own message (first lines) when it failed
    unresolved_ops: tuple[str, ...] = ()
    flex_unsupported: bool = False
    malformed: bool = False         # LiteRT's own verifier refused the flatbuffer
    dynamic_inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()   # (name, shape signature) of -1 inputs
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()     # the shapes it was resized to

    def to_dict(self) -> dict:
        return {"status": self.status, "message": self.message, "unresolved_ops": list(self.unresolved_ops),
                "dynamic_inputs": {n: list(s) for n, s in self.dynamic_inputs},
                "input_shapes": {n: list(s) for n, s in self.input_shapes}}


def _classify(message: str) -> LoadCheck:
    unresolved = tuple(dict.fromkeys(re.findall(r"unresolved custom op: ([^\s.]+)", message)))
    flex = "Select TensorFlow op" in message or "Flex" in message and "not supported" in message
    malformed = "not a valid Flatbuffer" in message or "Model provided has model identifier" in message
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip() and not ln.startswith("See instructions")]
    return LoadCheck("failed", " | ".join(lines[:3])[:500], unresolved, flex, malformed)


def check_load(path: str | Path, *, timeout: float = DEFAULT_TIMEOUT,
               input_shapes: dict[str, tuple[int, ...]] | None = None) -> LoadCheck:
    """Load (and allocate) the model in stock LiteRT in a child; ``input_shapes`` resizes inputs first."""
    from mobilepack.runtime.child import run_in_child

    shapes = {k: list(v) for k, v in (input_shapes or {}).items()}
    outcome = run_in_child("mobilepack.inspect.loadcheck:load_in_child", {"model": str(path), "shapes": shapes},
                           timeout=timeout, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    if outcome.timed_out:
        return LoadCheck("timeout", f"LiteRT did not finish loading the model within {timeout:.0f} s")
    if outcome.signal_name:
        return LoadCheck("crashed", f"LiteRT crashed ({outcome.signal_name}) while loading the model")
    data = outcome.answer
    if data is None:
        tail = outcome.log.strip().splitlines()[-1:] or ["no output"]
        return LoadCheck("crashed", f"the LiteRT child process exited with {outcome.returncode}: {tail[0][:300]}")
    if data.get("unknown_inputs"):
        from mobilepack.errors import UsageError

        raise UsageError(f"--input-shape names unknown input {data['unknown_inputs'][0]!r}",
                         f"the model's inputs are: {', '.join(data.get('inputs', []))}")
    dynamic = tuple((n, tuple(s)) for n, s in data.get("dynamic", {}).items())
    resized = tuple((n, tuple(s)) for n, s in data.get("resized", {}).items())
    if data.get("ok"):
        return LoadCheck("ok", dynamic_inputs=dynamic, input_shapes=resized)
    check = _classify(data.get("error", ""))
    if data.get("stage") == "allocate" and dynamic and not resized and not check.unresolved_ops \
            and not check.flex_unsupported and not check.malformed:
        return LoadCheck("needs_input_shape", check.message, dynamic_inputs=dynamic)
    from dataclasses import replace

    return replace(check, dynamic_inputs=dynamic, input_shapes=resized)


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


def load_in_child(request: dict) -> dict:
    """In the child (``runtime.child``, forked from the zygote): load, resize and allocate."""
    _limit_memory(request["model"])
    payload: dict = {"stage": "load"}
    try:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=request["model"])
        details = interpreter.get_input_details()
        payload["inputs"] = [d["name"] for d in details]
        payload["dynamic"] = {d["name"]: [int(x) for x in d["shape_signature"]] for d in details
                              if any(int(x) < 0 for x in d["shape_signature"])}
        shapes = request.get("shapes") or {}
        unknown = sorted(set(shapes) - set(payload["inputs"]))
        if unknown:
            payload.update(ok=False, unknown_inputs=unknown)
        else:
            payload["stage"] = "resize"
            for d in details:
                if d["name"] in shapes:
                    interpreter.resize_tensor_input(d["index"], shapes[d["name"]], strict=True)
            payload["resized"] = {k: list(v) for k, v in shapes.items()}
            payload["stage"] = "allocate"
            interpreter.allocate_tensors()
            payload["ok"] = True
    except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its own message
        payload.update(ok=False, error=str(exc))
    return payload


def _child(model_path: str, result_path: str, shapes_json: str = "{}") -> int:
    """``python -m mobilepack.inspect.loadcheck MODEL RESULT [SHAPES]``: the same check in a new interpreter."""
    payload = load_in_child({"model": model_path, "shapes": json.loads(shapes_json)})
    Path(result_path).write_text(json.dumps(payload), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:4]))
