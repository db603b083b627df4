"""The benchmark definition shared by the host bench, the Android app and the iOS app.

Records measured this way carry ``definition = DEFINITION``, so ``report --import`` can tell
whether numbers from different sources are comparable.

* inputs: every input tensor is filled once, before timing, with a deterministic pattern: for
  flat element index ``i``, ``v = (i * 7919) mod 256``; float32/float16 get ``v / 255``, uint8 gets
  ``v``, int8 gets ``v - 128``, int32/int64 (e.g. token ids) and bool get ``v mod 2``.
* ``init_us`` = model load + interpreter/compiled-model creation + tensor allocation.
* one timed iteration = copy the prepared input buffers into the input tensors + invoke + read
  (copy out) every output tensor.  No allocation, dequantization or post-processing inside it.
* ``first_us`` = the first such iteration right after init, before warm-up; not in the statistics.
"""

from __future__ import annotations

from mobilepack.report.schema import BENCH_DEFINITION as DEFINITION  # one id for host, Android and iOS
PATTERN_PRIME = 7919


def pattern_values(count: int):
    """``(i * 7919) mod 256`` for ``i`` in ``0..count-1`` (int64)."""
    import numpy as np

    return (np.arange(count, dtype=np.int64) * PATTERN_PRIME) % 256


def pattern_array(shape, dtype):
    """One input tensor of ``shape``/``dtype`` filled with the definition's pattern."""
    import numpy as np

    dtype = np.dtype(dtype)
    shape = [max(1, int(s)) for s in shape]
    v = pattern_values(int(np.prod(shape)) if shape else 1).reshape(shape)
    if np.issubdtype(dtype, np.floating):
        return (v / 255.0).astype(dtype)
    if dtype == np.uint8:
        return v.astype(np.uint8)
    if dtype == np.int8:
        return (v - 128).astype(np.int8)
    return (v % 2).astype(dtype)   # int32/int64 token ids, bool, and any other integer type


def pattern_inputs(inputs: list[dict]) -> list:
    """The pattern for every input of a session (``{"shape", "dtype"}`` per input)."""
    return [pattern_array(d["shape"], d["dtype"]) for d in inputs]
