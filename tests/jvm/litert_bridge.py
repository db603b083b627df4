"""The native side of the test-only ``org.tensorflow.lite`` stand-in (tests/jvm/standin): the real
LiteRT runtime (ai-edge-litert) computing the model for the generated Android app's code on a JVM.

Messages on stdin/stdout, both ways: ``[int32 big-endian header length][UTF-8 JSON header][payload]``
with ``header["payload"]`` payload bytes.  Operations:

* ``load`` (payload: the .tflite bytes; ``xnnpack``, ``threads``) -> ``id``, ``inputs``/``outputs`` in
  tensor order and ``signatures`` {key: {inputs: [...], outputs: [...]}}, each tensor
  ``{name, shape, dtype, bytes}``;
* ``run`` (``id``, ``signature`` or null, ``inputs`` [{name, bytes}] whose bytes follow in the
  payload, ``outputs`` [names or indices]) -> ``sizes`` and the output bytes in that order;
* ``close`` (``id``).
"""

from __future__ import annotations

import json
import struct
import sys


def _read(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _describe(name: str, d: dict) -> dict:
    import numpy as np

    shape = [int(x) for x in d["shape"]]
    dtype = np.dtype(d["dtype"])
    return {"name": name, "shape": shape, "dtype": dtype.name, "bytes": int(np.prod(shape, dtype=np.int64)) * dtype.itemsize}


class Models:
    def __init__(self) -> None:
        self.models: dict[int, dict] = {}

    def load(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if header.get("xnnpack", True) else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        threads = int(header.get("threads", -1))
        it = Interpreter(model_content=payload, experimental_op_resolver_type=resolver,
                         num_threads=threads if threads > 0 else None)
        it.allocate_tensors()
        sigs = {}
        for key in it.get_signature_list():
            runner = it.get_signature_runner(key)
            sigs[key] = {"runner": runner, "inputs": runner.get_input_details(), "outputs": runner.get_output_details()}
        mid = len(self.models) + 1
        self.models[mid] = {"it": it, "sigs": sigs}
        reply = {
            "id": mid,
            "inputs": [_describe(d["name"], d) for d in it.get_input_details()],
            "outputs": [_describe(d["name"], d) for d in it.get_output_details()],
            "signatures": {key: {"inputs": [_describe(n, d) for n, d in s["inputs"].items()],
                                 "outputs": [_describe(n, d) for n, d in s["outputs"].items()]} for key, s in sigs.items()},
        }
        return reply, b""

    def run(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        import numpy as np

        model = self.models[header["id"]]
        it = model["it"]
        offset, feeds = 0, []
        for spec in header["inputs"]:
            feeds.append((spec["name"], payload[offset:offset + spec["bytes"]]))
            offset += spec["bytes"]
        key = header.get("signature")
        if key is not None:
            sig = model["sigs"][key]
            args = {}
            for name, data in feeds:
                d = sig["inputs"][name]
                args[name] = np.frombuffer(data, dtype=d["dtype"]).reshape(d["shape"])
            result = sig["runner"](**args)
            outs = [np.ascontiguousarray(result[name]) for name in header["outputs"]]
        else:
            details = it.get_input_details()
            for name, data in feeds:
                d = details[int(name)]
                it.set_tensor(d["index"], np.frombuffer(data, dtype=d["dtype"]).reshape(d["shape"]))
            it.invoke()
            out_details = it.get_output_details()
            outs = [np.ascontiguousarray(it.get_tensor(out_details[int(i)]["index"])) for i in header["outputs"]]
        blobs = [o.tobytes() for o in outs]
        return {"sizes": [len(b) for b in blobs]}, b"".join(blobs)

    def close(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        self.models.pop(header["id"], None)
        return {}, b""


def main() -> None:
    import os

    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")   # the protocol's own descriptor ...
    os.dup2(2, 1)                         # ... so that anything LiteRT prints goes to stderr
    sys.stdout = sys.stderr
    models = Models()
    while True:
        try:
            (size,) = struct.unpack(">i", _read(stdin, 4))
        except EOFError:
            return
        header = json.loads(_read(stdin, size))
        payload = _read(stdin, int(header.get("payload", 0)))
        try:
            reply, data = getattr(models, header["op"])(header, payload)
        except Exception as exc:  # the Java side raises it as IllegalArgumentException
            reply, data = {"error": f"{type(exc).__name__}: {exc}"}, b""
        reply["payload"] = len(data)
        raw = json.dumps(reply).encode("utf-8")
        stdout.write(struct.pack(">i", len(raw)) + raw + data)
        stdout.flush()


if __name__ == "__main__":
    main()
