"""The delegate registry: how a .tflite is opened for each named delegate.

* ``cpu``      LiteRT ``Interpreter`` with ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``:
               the built-in CPU kernels without XNNPACK, single-threaded.
* ``xnnpack``  the default resolver (XNNPACK applied by default); threads are swept.
* ``gpu``      ``CompiledModel`` with ``HardwareAccelerator.GPU`` and no CPU fallback, so a partly
               supported model fails instead of silently running on the CPU.
* external     ``--delegate-lib NAME=PATH``: an ``Interpreter`` with ``load_delegate(PATH)``.

A :class:`Delegate` is a plain description (it crosses into the child process as
a dict); :func:`open_session` turns it into a :class:`Session` *inside* the child.
Adding a delegate is one module with one :func:`register` call that gives its opener and,
where it needs one, its :class:`~mobilepack.runtime.behaviour.Behaviour` (its child environment,
whether it can run here, how its failures read): the delegate names that module (``source``), and
the child runs it before opening, so ``bench``, ``build`` and evaluation reach the delegate without
any other change.  Bench and evaluation ask the delegate's behaviour (``delegate.behaviour.child_setup()``,
``.classify_failure()``, …); they never test its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from mobilepack.errors import UsageError
from mobilepack.runtime.behaviour import Behaviour, ExternalBehaviour, GpuBehaviour


@dataclass(frozen=True)
class Delegate:
    name: str
    description: str
    opener: str                    # key in _OPENERS
    threaded: bool = False         # whether --threads is swept for it
    library: str | None = None     # external delegates: the shared library
    host: bool = True              # runs on this machine (False: phones only)
    adb_flags: tuple[str, ...] | None = None   # benchmark_model flags on a phone (None: host only)
    source: str | None = None      # the module file that registers it (run in the child before opening)
    label: str = ""                # what reports call it beside its name ("reference CPU kernels")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def behaviour(self) -> Behaviour:
        """What it knows of itself (child setup, failure reading, …): registered with its opener."""
        return behaviour_of(self.opener)


_REGISTRY: dict[str, Delegate] = {}
_OPENERS: dict[str, Callable[..., "Session"]] = {}   # opener key -> (delegate dict, path, threads, shapes) -> Session
_DEFAULT = Behaviour()
# opener key -> behaviour; ``--delegate-lib`` delegates are made by :func:`get`, never registered
_BEHAVIOURS: dict[str, Behaviour] = {"external": ExternalBehaviour()}


def behaviour_of(opener: str) -> Behaviour:
    """The behaviour registered under an opener key (a CPU delegate's, :class:`Behaviour`, when none)."""
    return _BEHAVIOURS.get(opener, _DEFAULT)


def register(delegate: Delegate, opener: Callable[..., Session] | None = None,
             behaviour: Behaviour | None = None) -> Delegate:
    """Add a delegate; ``opener(delegate_dict, model_path, threads, input_shapes) -> Session`` and
    ``behaviour`` (default: a CPU delegate's, :class:`Behaviour`) are stored under ``delegate.opener``
    (the built-in openers need none)."""
    _REGISTRY[delegate.name] = delegate
    if opener is not None:
        _OPENERS[delegate.opener] = opener
    if behaviour is not None:
        _BEHAVIOURS[delegate.opener] = behaviour
    return delegate


register(Delegate("cpu", "built-in CPU kernels (no default delegates, no XNNPACK)", "reference",
                  adb_flags=("--use_xnnpack=false",), label="reference CPU kernels"))
register(Delegate("xnnpack", "XNNPACK (LiteRT's default CPU delegate)", "default", threaded=True,
                  adb_flags=("--use_xnnpack=true",), label="XNNPACK"))
register(Delegate("gpu", "LiteRT GPU accelerator (CompiledModel, no CPU fallback)", "gpu",
                  adb_flags=("--use_gpu=true",), label="GPU"), behaviour=GpuBehaviour())
register(Delegate("nnapi", "Android NNAPI (phones only, with --adb)", "", host=False,
                  adb_flags=("--use_nnapi=true",)))


def threads_matter(name: str) -> bool:
    """Whether a thread count means something for the delegate called ``name`` (unknown names: yes)."""
    d = _REGISTRY.get(name)
    return d.threaded if d else True


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str, external: dict[str, str] | None = None) -> Delegate:
    """The delegate called ``name``: a registered one, or one of ``external`` (NAME -> library path)."""
    if external and name in external:
        return Delegate(name, f"external delegate {external[name]}", "external", threaded=True,
                        library=external[name])
    if name not in _REGISTRY:
        valid = ", ".join(names() + sorted(external or {}))
        raise UsageError(f"unknown delegate {name!r}", f"valid delegates: {valid} (or add one with --delegate-lib NAME=PATH)")
    return _REGISTRY[name]


def parse_delegate_libs(specs: list[str] | None) -> dict[str, str]:
    """``["NAME=PATH", ...]`` -> {NAME: PATH}; the path must exist."""
    import os

    out: dict[str, str] = {}
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise UsageError(f"--delegate-lib {spec!r} is not NAME=PATH", "e.g. --delegate-lib mygpu=/path/libdelegate.so")
        if name in _REGISTRY:
            raise UsageError(f"--delegate-lib name {name!r} is a built-in delegate", "pick another name")
        if not os.path.isfile(path):
            raise UsageError(f"delegate library not found: {path}", "give the path of a TFLite delegate .so")
        out[name] = os.path.abspath(path)
    return out


# -- sessions (inside the child process) -------------------------------------------------------

class Session:
    """One opened model: ``inputs`` (name, shape, dtype, quantization), ``feed()`` once, ``run()`` per
    iteration.  ``run()`` returns only after every output has been read back to host memory."""

    inputs: list[dict]
    fully_delegated: bool | None = None
    adapter: str | None = None

    def feed(self, arrays: list) -> None:
        raise NotImplementedError

    def run(self) -> list:
        raise NotImplementedError


class InterpreterSession(Session):
    def __init__(self, model_path: str, *, resolver: str, threads: int | None, delegate_lib: str | None = None,
                 input_shapes: dict | None = None):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType, load_delegate

        kind = {"reference": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, "default": OpResolverType.AUTO}[resolver]
        delegates = [load_delegate(delegate_lib)] if delegate_lib else None
        self.it = Interpreter(model_path=model_path, experimental_op_resolver_type=kind, num_threads=threads,
                              experimental_delegates=delegates)
        for d in self.it.get_input_details() if input_shapes else ():
            if d["name"] in input_shapes:
                self.it.resize_tensor_input(d["index"], list(input_shapes[d["name"]]), strict=True)
        self.it.allocate_tensors()
        self.inputs = [{"name": d["name"], "index": d["index"], "shape": [int(x) for x in d["shape"]],
                        "dtype": d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else str(d["dtype"]),
                        "quantization": list(d["quantization"])} for d in self.it.get_input_details()]
        import numpy as np

        outs = self.it.get_output_details()
        self._outputs = [d["index"] for d in outs]
        # outputs are copied into buffers allocated once, so an iteration allocates nothing
        self._out_buffers = [np.empty([int(x) for x in d["shape"]], d["dtype"]) for d in outs]

    def feed(self, arrays: list) -> None:
        for d, a in zip(self.inputs, arrays):
            self.it.set_tensor(d["index"], a)

    def run(self) -> list:
        """Invoke, then copy every output into its preallocated buffer (valid until the next run)."""
        import numpy as np

        self.it.invoke()
        for n, (i, buf) in enumerate(zip(self._outputs, self._out_buffers)):
            view = self.it.tensor(i)()
            if view.shape == buf.shape:
                np.copyto(buf, view)
            else:  # a data-dependent output shape: a new buffer of the size it has now
                self._out_buffers[n] = buf = view.copy()
        return list(self._out_buffers)


class GpuSession(Session):
    """``CompiledModel`` on the GPU.  Execution is asynchronous: ``run()`` reads every output buffer,
    which waits for the GPU to finish."""

    def __init__(self, model_path: str):
        import numpy as np

        from mobilepack.runtime.gpu import compile_gpu

        self.model = compile_gpu(model_path)
        self.fully_delegated = bool(self.model.is_fully_accelerated())
        sigs = self.model.get_signature_list()
        self.key = "serving_default" if "serving_default" in sigs else sorted(sigs)[0]
        index = self.model.get_signature_index(self.key)
        in_details = self.model.get_input_tensor_details(self.key)
        out_details = self.model.get_output_tensor_details(self.key)
        self.inputs = [{"name": n, "shape": [int(x) for x in in_details[n]["shape"]], "dtype": in_details[n]["dtype"],
                        "quantization": [0.0, 0]} for n in sigs[self.key]["inputs"]]
        self._outs = [(n, int(np.prod(out_details[n]["shape"])), np.dtype(out_details[n]["dtype"]))
                      for n in sigs[self.key]["outputs"]]
        self._in_buffers = self.model.create_input_buffers(index)
        self._out_buffers = self.model.create_output_buffers(index)
        self._index = index

    def feed(self, arrays: list) -> None:
        for buf, a in zip(self._in_buffers, arrays):
            buf.write(a)

    def run(self) -> list:
        self.model.run_by_index(self._index, self._in_buffers, self._out_buffers)
        return [buf.read(n, dt) for buf, (_, n, dt) in zip(self._out_buffers, self._outs)]


_OPENERS.update({
    "reference": lambda d, path, threads, shapes: InterpreterSession(path, resolver="reference", threads=1,
                                                                     input_shapes=shapes),
    "default": lambda d, path, threads, shapes: InterpreterSession(path, resolver="default", threads=threads,
                                                                   input_shapes=shapes),
    "gpu": lambda d, path, threads, shapes: GpuSession(path),
    "external": lambda d, path, threads, shapes: InterpreterSession(path, resolver="default", threads=threads,
                                                                    delegate_lib=d["library"], input_shapes=shapes),
})


def open_session(delegate: dict, model_path: str, threads: int, input_shapes: dict | None = None) -> Session:
    """Open ``model_path`` for ``delegate`` (a :meth:`Delegate.to_dict`).  Child process only.
    ``input_shapes`` (name -> shape) resizes dynamic inputs before allocation (``--input-shape``)."""
    if delegate["opener"] not in _OPENERS and delegate.get("source"):
        import runpy

        runpy.run_path(delegate["source"])   # the delegate's own module registers its opener (and behaviour)
    refusal = behaviour_of(delegate["opener"]).input_shape_refusal
    if input_shapes and refusal:
        raise ValueError(f"--input-shape applies to cpu/xnnpack: {refusal}")
    return _OPENERS[delegate["opener"]](delegate, model_path, threads, dict(input_shapes or {}))

