"""Reading a ``.tflite`` source: its tensors as LiteRT names them, with ``--input-shape`` / ``--batch``
fixing dynamic (-1) dimensions in the file (``model.tflite_edit``) and ``--signature`` checked."""

from __future__ import annotations

from pathlib import Path

from mobilepack.errors import InputError, UsageError


def read_tflite_source(path: Path, overrides: dict[str, tuple[int, ...]], *, batch: int = 1,
                       signature_key: str | None = None):
    """(bytes as shipped, inputs, outputs, signature key or None)."""
    from mobilepack.errors import RuntimeFailure
    from mobilepack.runtime.interpreter import describe_tflite

    data = path.read_bytes()
    overrides = dict(overrides)
    if batch != 1:
        overrides.update(_batch_shapes(data, overrides, batch, path.name))
    if overrides:
        from mobilepack.model.tflite_edit import with_input_shapes

        data = with_input_shapes(data, overrides, path.name)
    try:
        inputs, outputs, key = describe_tflite(data)
    except RuntimeFailure as exc:
        dynamic = dynamic_inputs(data)
        if not dynamic:
            raise
        names = ", ".join(f"{n}{list(sig)}" for n, sig in dynamic)
        example = " ".join(f"--input-shape {n}=" + ",".join("1" if i == 0 else "N" for i in range(len(sig)))
                           for n, sig in dynamic)
        raise InputError(f"{path.name} needs an input shape: allocating it at the placeholder shape of its dynamic "
                         f"input(s) {names} failed",
                         f"pass {example} (N set) to fix those dimensions; convert/build then write the "
                         f".tflite with that shape") from exc
    if signature_key is not None and signature_key != key:
        has = f"its signature is {key!r}" if key else "it has no signature (its tensors name its inputs)"
        raise UsageError(f"--signature {signature_key!r} does not apply to {path.name}: {has}",
                         "drop --signature for a .tflite source")
    return data, inputs, outputs, key


def _batch_shapes(data: bytes, overrides: dict, batch: int, file_name: str) -> dict[str, tuple[int, ...]]:
    """``--batch``: every input whose only dynamic dimension is the first, fixed to ``batch``."""
    dyn = [(n, sig) for n, sig in dynamic_inputs(data) if n not in overrides]
    batched = {n: (batch, *sig[1:]) for n, sig in dyn if sig[0] < 0 and min(sig[1:], default=0) >= 0}
    if not batched:
        raise UsageError(f"--batch {batch}: {file_name} has no input whose only dynamic dimension is the batch",
                         "drop --batch, or set whole shapes with --input-shape NAME=…")
    return batched


def dynamic_inputs(data: bytes) -> list[tuple[str, tuple[int, ...]]]:
    """(tensor name, shape signature) of subgraph 0's inputs with a dynamic (-1) dimension."""
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        sg = parse_model(data).subgraphs[0]
    except (FlatbufferError, IndexError):
        return []
    out = []
    for i in sg.inputs:
        t = sg.tensors[i]
        if t.shape_signature is not None and any(d < 0 for d in t.shape_signature):
            out.append((t.name, tuple(t.shape_signature)))
    return out
