"""A time-bounded fuzz run of the .tflite reader behind `mobilepack inspect`.

Seeds are valid models (the digits sample's fp32 and int8 variants, with and without
metadata); each iteration applies random structural mutations (bit flips, byte runs,
truncation, duplication, 32-bit offset corruption, splices between seeds) and runs the
whole pure-Python inspection (verification, structure, metadata, lint without native code).
Property: every input gives a result or a MobilepackError — never another exception.
Every 50th input that passes verification also goes through the native load check (in a
child process): the parent must survive whatever the runtime does.

Budget: MOBILEPACK_FUZZ_SECONDS (default 30 s; .ci/run sets 15 s); MOBILEPACK_FUZZ_SEED picks another
mutation sequence.  Inputs that once crashed are kept in tests/fixtures/fuzz-*.tflite and replayed.  The number of executions is
printed, and a failing input is saved under the pytest tmp dir for reproduction."""

from __future__ import annotations

import os
import random
import struct
import time

import pytest

from mobilepack.errors import MobilepackError
from tests.conftest import DIGITS


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    import mobilepack
    from mobilepack.metadata import attach
    from mobilepack.model.spec import Normalization

    out = tmp_path_factory.mktemp("fuzz-seeds") / "conv"
    mobilepack.convert(DIGITS / "digits.keras", out, quantize="fp32,int8", calibration=DIGITS / "calibration",
                       calibration_samples=10)
    plain = [(out / f"digits_{m}.tflite").read_bytes() for m in ("fp32", "int8")]
    labels = tuple((DIGITS / "labels.txt").read_text().split())
    with_md = attach(plain[1], task="image_classification", labels=labels,
                     normalization=Normalization((0.0,), (1.0,), "flags")).model
    return plain + [with_md]


def _mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not b:
            b = bytearray(rng.choice(seeds)[:64])
        pos = rng.randrange(len(b))
        if op == 0:                                   # bit flip
            b[pos] ^= 1 << rng.randrange(8)
        elif op == 1:                                 # random byte run
            n = rng.randint(1, 16)
            b[pos:pos + n] = bytes(rng.randrange(256) for _ in range(n))
        elif op == 2:                                 # truncation
            del b[rng.randrange(len(b)):]
        elif op == 3 and pos + 4 <= len(b):           # corrupt a 32-bit little-endian offset
            value = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(b), len(b) - 4, rng.randrange(1 << 32)])
            b[pos:pos + 4] = struct.pack("<I", value & 0xFFFFFFFF)
        elif op == 4:                                 # duplicate a slice
            n = rng.randint(1, 256)
            b[pos:pos] = b[pos:pos + n]
        elif op == 5:                                 # splice with another seed
            other = rng.choice(seeds)
            cut = rng.randrange(len(other))
            b = b[:pos] + bytearray(other[cut:cut + rng.randint(8, 512)]) + b[pos:]
        else:                                         # zero a range
            n = rng.randint(1, 64)
            b[pos:pos + n] = bytes(min(n, len(b) - pos))
    return bytes(b)


def test_fuzz_inspect_reader(seeds, tmp_path):
    from mobilepack.inspect import inspect_model

    budget = float(os.environ.get("MOBILEPACK_FUZZ_SECONDS", "30"))
    rng = random.Random(int(os.environ.get("MOBILEPACK_FUZZ_SEED", "20261124")))
    path = tmp_path / "fuzz.tflite"
    executions = clean_errors = results = native = 0
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        data = _mutate(rng, rng.choice(seeds), seeds)
        path.write_bytes(data)
        try:
            inspect_model(path, runtime=False, gpu=False)
            results += 1
            if results % 50 == 1:
                native += 1
                try:
                    inspect_model(path, runtime=True, gpu=False, load_timeout=30)
                except MobilepackError:
                    pass
        except MobilepackError as exc:
            clean_errors += 1
            assert exc.message and exc.exit_code in (1, 2)
        except Exception as exc:  # noqa: BLE001 - this is the property
            keep = tmp_path / f"crash-{executions}.tflite"
            keep.write_bytes(data)
            pytest.fail(f"inspect raised {type(exc).__name__}: {exc} on a mutated model (saved as {keep})")
        executions += 1
    print(f"\nfuzz: {executions} executions in {budget:.0f} s ({results} results, {clean_errors} clean errors, "
          f"{native} native load checks), 0 crashes")
    assert executions > 50


@pytest.mark.parametrize("path", sorted((DIGITS.parent.parent / "tests" / "fixtures").glob("fuzz-*.tflite")),
                         ids=lambda p: p.name)
def test_fuzz_regressions(path):
    """Inputs the fuzzer once crashed on (kept as fixtures): a result or a clean error now."""
    from mobilepack.inspect import inspect_model

    try:
        inspect_model(path, runtime=False, gpu=False)
    except MobilepackError as exc:
        assert exc.exit_code in (1, 2)
