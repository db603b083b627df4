"""Running a .tflite in the LiteRT runtime (``ai-edge-litert``) in this process.

Used by numerical validation right after conversion.  Benchmarks and lint run
native inference in child processes (see the bench and inspect stages)."""

from __future__ import annotations

from typing import Any

from mobilepack.errors import RuntimeFailure
from mobilepack.model.spec import Quantization, TensorSpec

# threads of the XNNPACK session that validates a variant: the build's evaluation opens its xnnpack
# cells with as many (evaluate.accuracy's ``threads``), so it can use the validation's outputs
VALIDATION_THREADS = 2


def _interpreter(model: bytes, *, reference_kernels: bool = False, num_threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if reference_kernels else OpResolverType.AUTO)
    try:
        it = Interpreter(model_content=model, experimental_op_resolver_type=resolver, num_threads=num_threads)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise RuntimeFailure(f"LiteRT cannot load the model: {str(exc).strip().splitlines()[0]}",
                             "run `mobilepack inspect` on it to see unsupported ops") from exc
    return it


def _tensor_spec(name: str, d: dict) -> TensorSpec:
    import numpy as np

    scale, zp = d.get("quantization", (0.0, 0))
    q = Quantization(float(scale), int(zp)) if scale else None
    return TensorSpec(name=name, shape=tuple(int(x) for x in d["shape"]), dtype=np.dtype(d["dtype"]).name,
                      shape_signature=tuple(int(x) for x in d.get("shape_signature", d["shape"])), quantization=q)


def describe_tflite(model: bytes) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...], str | None]:
    """Inputs, outputs and the signature key used (None: the model has no signature, and its tensors
    are named by ``tensor_io``'s rule), from LiteRT itself."""
    from mobilepack.model.tfimport import silenced
    from mobilepack.runtime.tensor_io import Runner

    with silenced():  # LiteRT announces its XNNPACK delegate on stderr
        runner = Runner(_interpreter(model))
    if runner.key is not None:   # signature names, sorted
        return (tuple(_tensor_spec(n, runner.inputs[n]) for n in sorted(runner.inputs)),
                tuple(_tensor_spec(n, runner.outputs[n]) for n in sorted(runner.outputs)), runner.key)
    return (tuple(_tensor_spec(n, d) for n, d in runner.inputs.items()),
            tuple(_tensor_spec(n, d) for n, d in runner.outputs.items()), None)


class SignatureSession:
    """One interpreter; feed float inputs by name, get float outputs by name (its signature's names,
    or ``tensor_io``'s rule for a model without one).

    Integer inputs are quantized with the tensor's scale/zero point, integer
    outputs dequantized, so a variant can be compared with the float source."""

    def __init__(self, model: bytes, *, reference_kernels: bool = False, num_threads: int | None = None) -> None:
        from mobilepack.runtime.tensor_io import Runner

        self.interpreter = _interpreter(model, reference_kernels=reference_kernels, num_threads=num_threads)
        self.runner = Runner(self.interpreter)
        self.key, self.inputs, self.outputs = self.runner.key, self.runner.inputs, self.runner.outputs

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        return self.dequantized(self.run_raw(feeds))

    def run_raw(self, feeds: dict[str, Any]) -> dict[str, Any]:
        """The outputs as the model gives them (integer outputs not dequantized)."""
        import numpy as np

        args = {}
        for name, d in self.inputs.items():
            x = np.asarray(feeds[name])
            dtype = np.dtype(d["dtype"])
            scale, zp = d["quantization"]
            if np.issubdtype(dtype, np.integer) and scale:
                info = np.iinfo(dtype)
                x = np.clip(np.rint(x.astype(np.float64) / scale + zp), info.min, info.max)
            args[name] = x.astype(dtype)
        try:
            raw = self.runner(**args)
        except (ValueError, RuntimeError) as exc:
            raise RuntimeFailure(f"LiteRT failed to run the model: {str(exc).strip().splitlines()[0]}",
                                 "run `mobilepack inspect` on it") from exc
        return {name: np.array(value) for name, value in raw.items()}   # copies: kept past the next run

    def dequantized(self, raw: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = {}
        for name, value in raw.items():
            scale, zp = self.outputs[name]["quantization"]
            value = np.asarray(value)
            if np.issubdtype(value.dtype, np.integer) and scale:
                value = (value.astype(np.float32) - zp) * np.float32(scale)
            out[name] = value
        return out
