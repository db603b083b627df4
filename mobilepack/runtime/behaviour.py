"""What a delegate knows about itself, beyond how to open a model (``delegates``: its opener).

A :class:`Behaviour` answers, in the parent process, the questions bench and evaluation used to
answer with ``if delegate is the GPU`` branches:

* :meth:`Behaviour.child_setup` — can it run on this machine, with which environment in its child
  process, and on a software adapter (then bench runs a functional check, evaluation a subset)?
* :meth:`Behaviour.classify_failure` — the failure kind and one-line reason of an error its child
  answered (``unsupported_op``, ``delegate_refused``, ``delegate_load_failed``, ``error``, …);
* :meth:`Behaviour.adapter` — which adapter ran, from the child's log;
* :meth:`Behaviour.cell_error` — the reason an accuracy-matrix cell shows;
* ``input_shape_refusal`` — why it cannot take ``--input-shape`` (None: it can).

The default suits a delegate on this machine's CPU: nothing to set up, only unresolved custom ops
to recognise.  :class:`GpuBehaviour` (LiteRT's GPU accelerator over Vulkan) and
:class:`ExternalBehaviour` (``--delegate-lib``) are the built-in others; a plug-in passes its own
subclass to ``delegates.register``.  A leaf module: the GPU's helpers are imported when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChildSetup:
    """How (and whether) a delegate's child process runs on this machine."""

    env: dict[str, str] = field(default_factory=dict)   # added to the child's environment
    forkable: frozenset[str] = frozenset()   # names in ``env`` read only when opening (a zygote fork may set them)
    software: bool = False                   # a software adapter: numerics only, latency not representative
    adapter: str | None = None               # the software adapter's name, for messages
    unavailable: str | None = None           # why it cannot run here (None: it can)
    skipped_kind: str = "unavailable"        # the failure kind of a record it could not run (in SKIPPED_KINDS)
    skipped_note: str | None = None          # the note of such a record


# failure kinds of a delegate that could not run here: reported as "skipped", not "failed"
SKIPPED_KINDS = frozenset({"unavailable", "gpu_unavailable"})


@dataclass(frozen=True)
class Failure:
    kind: str                  # "unsupported_op", "delegate_refused", "delegate_load_failed", "error", …
    message: str               # one line
    note: str | None = None    # a note for the bench record (None: keep the record's own)


_UNRESOLVED = ("unresolved custom op", "Didn't find op", "is not registered")


def first_line(error: str | None) -> str:
    return next((ln.strip() for ln in str(error or "").splitlines() if ln.strip()), "failed")


def unsupported_op(error: str | None, log: str) -> Failure | None:
    """An op the runtime has no kernel for (e.g. an unresolved custom op), from the error or the log."""
    text = f"{error}\n{log}"
    if not any(m in text for m in _UNRESOLVED):
        return None
    line = next((ln.strip() for ln in text.splitlines() if any(m in ln for m in _UNRESOLVED)), first_line(error))
    return Failure("unsupported_op", line.removeprefix("ERROR: ")[:300])


class Behaviour:
    """A delegate on this machine's CPU: no setup, no refusals of its own."""

    input_shape_refusal: str | None = None

    def child_setup(self) -> ChildSetup:
        return ChildSetup()

    def refusal(self, error: str | None, log: str) -> Failure | None:
        """The delegate's own reading of an error (None: not one of its own refusals)."""
        return None

    def classify_failure(self, error: str | None, log: str) -> Failure:
        """(kind, reason[, note]) of an error the child answered: unsupported ops first, then the
        delegate's own refusals, else a plain ``error``."""
        return (unsupported_op(error, log) or self.refusal(error, log)
                or Failure("error", first_line(error)[:300]))

    def adapter(self, log: str, setup: ChildSetup) -> tuple[str | None, bool]:
        """(the adapter that ran, whether it is software), from the child's log."""
        return None, setup.software

    def cell_error(self, error: str | None, log: str) -> str | None:
        """The reason a failed accuracy cell shows: the child's error, or the delegate's refusal."""
        refused = self.refusal(error, log)
        if refused is None:
            return error
        return f"{refused.kind}: {refused.message}" + (f" ({refused.note})" if refused.note else "")


GPU_SKIPPED_NOTE = "skipped: no Vulkan driver (install Debian's chromium for SwiftShader, or a GPU driver)"


class GpuBehaviour(Behaviour):
    """LiteRT's GPU accelerator (WebGPU over Vulkan): it needs a Vulkan driver — a real one, else
    SwiftShader from chromium (software: functional only) — and says why it refused only in its log."""

    input_shape_refusal = "LiteRT's GPU accelerator compiles the model's own input shapes"

    def child_setup(self) -> ChildSetup:
        from mobilepack.runtime import gpu

        vulkan = gpu.discover_vulkan()
        if vulkan.source == "none":
            return ChildSetup(unavailable=vulkan.message, skipped_kind="gpu_unavailable",
                              skipped_note=GPU_SKIPPED_NOTE)
        return ChildSetup(env=dict(vulkan.env), forkable=frozenset({"VK_ICD_FILENAMES", "VK_DRIVER_FILES"}),
                          software=vulkan.software, adapter="SwiftShader" if vulkan.software else None)

    def refusal(self, error: str | None, log: str) -> Failure:
        from mobilepack.runtime.gpu import classify, refusal_message

        kind = "gpu_unavailable" if classify(error, log) == "unavailable" else "delegate_refused"
        return Failure(kind, refusal_message(error, log))

    def adapter(self, log: str, setup: ChildSetup) -> tuple[str | None, bool]:
        from mobilepack.runtime.gpu import parse_adapter

        name, software = parse_adapter(log)
        return name, bool(software or (name is None and setup.software))

    def cell_error(self, error: str | None, log: str) -> str:
        return f"GPU refused the model: {self.refusal(error, log).message}"


class ExternalBehaviour(Behaviour):
    """``--delegate-lib NAME=PATH``: a library that may fail to load as a delegate."""

    def refusal(self, error: str | None, log: str) -> Failure | None:
        first = first_line(error)
        return Failure("delegate_load_failed", first[:300]) if "delegate" in first.lower() else None
