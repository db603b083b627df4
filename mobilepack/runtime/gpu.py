"""LiteRT's GPU accelerator: finding a Vulkan driver, and asking LiteRT whether it takes a model.

LiteRT's GPU path (``CompiledModel`` with ``HardwareAccelerator.GPU``) is WebGPU
(Dawn) over Vulkan.  Where a real Vulkan driver is installed it is used.  Where
none is, Debian's ``chromium`` package ships SwiftShader, a software Vulkan
implementation (``vk_swiftshader_icd.json`` beside chromium's libraries, plus
the ``libvulkan.so.1`` loader): the GPU path then really runs, in software —
good for checking delegation and numerics, never for quoting latency.

Everything native runs in a child process (:mod:`mobilepack.runtime.child`).
LiteRT says why it refused a model only in its log, so the log is parsed here:

* ``Some ops are not accelerated`` — GPU alone refuses a partly supported model
  (the log lists the ops, one ``OP: reason`` line each);
* ``Failed to modify graph with delegate`` — e.g. ops with data-dependent shapes;
* ``No adapters found`` / ``Couldn't load Vulkan`` — no usable GPU at all;
* ``Selected adapter: NAME, ..., adapterType=CPU / Software`` — which adapter ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mobilepack.runtime.vulkan import VulkanSetup, discover_vulkan  # noqa: F401 (re-exported)

SOFTWARE_NOTE = "functional only — latency not representative"

# -- reading LiteRT's log -----------------------------------------------------------------------

_ADAPTER_RE = re.compile(r"Selected adapter:\s*(?P<name>[^,\n]+)(?P<rest>[^\n]*)")
_PARTIAL_RE = re.compile(r"Following operations are not supported by GPU delegate:\s*\n(?P<body>(?:.*\n)*?)"
                         r"\s*\d+ operations? will run on the GPU", re.MULTILINE)
_OP_LINE_RE = re.compile(r"^\s*([A-Z][A-Z0-9_]+):")
_UNAVAILABLE_MARKERS = ("No adapters found", "Couldn't load Vulkan", "Failed to initialize WebGPU environment",
                        "Failed to create WebGPU", "no GPU accelerator")


def parse_adapter(log: str) -> tuple[str | None, bool]:
    """(adapter name, software) from LiteRT's "Selected adapter" line."""
    m = _ADAPTER_RE.search(log)
    if not m:
        return None, False
    name = m.group("name").strip()
    rest = m.group("rest")
    software = "Software" in rest or "swiftshader" in (name + rest).lower()
    if name.lower().startswith("swiftshader"):
        name = "SwiftShader" + name[len("swiftshader"):]
    return name, software


def parse_cpu_ops(log: str) -> tuple[str, ...]:
    """The ops LiteRT's GPU delegate leaves on the CPU, in the order it lists them."""
    ops: list[str] = []
    for m in _PARTIAL_RE.finditer(log):
        for line in m.group("body").splitlines():
            op = _OP_LINE_RE.match(line)
            if op and op.group(1) not in ops:
                ops.append(op.group(1))
    return tuple(ops)


def litert_message(error: str | None, log: str) -> str:
    """LiteRT's own reason, one line: the ``└ ...`` line of the exception, else the log's error."""
    lines = [ln.strip().lstrip("└").strip() for ln in (error or "").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.match(r"^ERROR: \[[^\]]+\]$", ln)]
    if lines:
        return lines[-1][:300]
    for marker in (*_UNAVAILABLE_MARKERS, "will run on the CPU"):
        for ln in log.splitlines():
            if marker in ln:
                return re.sub(r"^.*?\] ", "", ln.strip())[:300]
    return (error or "").strip().splitlines()[0][:300] if error else ""


def refusal_message(error: str | None, log: str) -> str:
    """Why the GPU accelerator refused a model: LiteRT's reason plus the ops it left on the CPU."""
    return with_cpu_ops(litert_message(error, log), parse_cpu_ops(log))


def with_cpu_ops(message: str, ops) -> str:
    return message + (f" (not on the GPU: {', '.join(ops)})" if ops else "")


def classify(error: str | None, log: str) -> str:
    """Status of a GPU-only compilation that failed with ``error``."""
    text = f"{error or ''}\n{log}"
    if "Some ops are not accelerated" in text:
        return "partial"
    if any(marker in text for marker in _UNAVAILABLE_MARKERS):
        return "unavailable"
    return "rejected"


# -- the probe --------------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuProbe:
    status: str                    # "full" | "partial" | "rejected" | "unavailable" | "crashed" | "timeout"
    fully_accelerated: bool | None
    adapter: str | None            # e.g. "SwiftShader" or the real device name
    software: bool                 # True for SwiftShader: functional only, latency not representative
    message: str                   # LiteRT's own message (first line) when it refused/failed
    cpu_ops: tuple[str, ...]       # ops left on CPU, where LiteRT tells
    functional: dict | None = None   # the functional check's answer, where the probe's child also ran it

    def to_dict(self) -> dict:
        return {"status": self.status, "fully_accelerated": self.fully_accelerated, "adapter": self.adapter,
                "software": self.software, "message": self.message, "cpu_ops": list(self.cpu_ops),
                **({"functional": self.functional} if self.functional is not None else {})}


def compile_gpu(model_path: str, *, cpu_fallback: bool = False):
    """A ``CompiledModel`` on LiteRT's GPU accelerator (call in a child process only)."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator

    accel = HardwareAccelerator.GPU | HardwareAccelerator.CPU if cpu_fallback else HardwareAccelerator.GPU
    return CompiledModel.from_file(str(model_path), hardware_accel=accel)


def _probe_in_child(request: dict) -> dict:
    try:
        model = compile_gpu(request["model"])
    except Exception as exc:  # LiteRT raises RuntimeError with its message
        return {"compiled": False, "error": str(exc)}
    return {"compiled": True, "fully": bool(model.is_fully_accelerated()), "error": None}


def probe_gpu(model_path, *, timeout: float = 120.0, functional: str | None = None) -> GpuProbe:
    """Compile ``model_path`` with ``CompiledModel`` + ``HardwareAccelerator.GPU`` (no CPU fallback)
    in a child process and report what LiteRT said.

    ``functional``: on a software adapter (SwiftShader), the child target (``"module:function"``,
    e.g. bench's ``mobilepack.bench.measure:probe_in_child``) that makes this same compilation and
    also runs a functional check on it; it answers as :func:`_probe_in_child` does, plus
    ``functional`` (kept in :attr:`GpuProbe.functional`).  A real GPU gets the plain probe."""
    from mobilepack.runtime.child import run_in_child

    setup = discover_vulkan()
    if setup.source == "none":
        return GpuProbe("unavailable", None, None, False, setup.message, ())
    target = functional if functional and setup.software else "mobilepack.runtime.gpu:_probe_in_child"
    outcome = run_in_child(target, {"model": str(model_path)}, timeout=timeout, env=setup.env)
    return probe_from_outcome(outcome, setup)


def probe_from_outcome(outcome, setup: VulkanSetup) -> GpuProbe:
    adapter, software = parse_adapter(outcome.log)
    software = software or (adapter is None and setup.software)
    cpu_ops = parse_cpu_ops(outcome.log)
    if outcome.timed_out:
        return GpuProbe("timeout", None, adapter, software, outcome.failure() or "timed out", cpu_ops)
    answer = outcome.answer
    if answer is None:
        return GpuProbe("crashed", None, adapter, software, outcome.failure() or "crashed", cpu_ops)
    if answer["compiled"]:
        fully = bool(answer["fully"])
        return GpuProbe("full" if fully else "partial", fully, adapter, software, "", cpu_ops,
                        answer.get("functional"))
    status = classify(answer["error"], outcome.log)
    fully = False if status == "partial" else None
    return GpuProbe(status, fully, adapter, software, litert_message(answer["error"], outcome.log), cpu_ops)
