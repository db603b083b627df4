"""Input shapes: ``--input-shape`` parsing and fixing a model's dynamic dimensions."""

from __future__ import annotations

import re

from mobilepack.errors import InputError, UsageError


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """``["image=1,224,224,3", ...]`` -> ``{"image": (1, 224, 224, 3)}``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        m = re.fullmatch(r"\s*([^=]+?)\s*=\s*(\d+(?:\s*,\s*\d+)*)\s*", item)
        if not m:
            raise UsageError(f"--input-shape {item!r} is not NAME=D1,D2,...",
                             "e.g. --input-shape image=1,224,224,3")
        dims = tuple(int(d) for d in m.group(2).split(","))
        if any(d <= 0 for d in dims):
            raise UsageError(f"--input-shape {item!r} has a non-positive dimension", "every dimension must be ≥ 1")
        shapes[m.group(1)] = dims
    return shapes


def fmt_shape(shape) -> str:
    return "[" + ",".join("?" if d is None or d < 0 else str(d) for d in shape) + "]"


MAX_INPUT_ELEMENTS = 1 << 28  # 256 Mi elements (1 GiB of float32): far beyond any phone model's input


def resolve_shape(name: str, raw: tuple, *, batch: int, overrides: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """Fix the dynamic batch dimension to ``batch``; any other dynamic dimension needs an override."""
    shape = _resolve_shape(name, raw, batch=batch, overrides=overrides)
    elements = 1
    for d in shape:
        elements *= d
    if elements > MAX_INPUT_ELEMENTS:
        raise InputError(f"input {name!r} would have shape {list(shape)} ({elements:,} elements): too large for a "
                         f"mobile model", "check --input-shape / --batch")
    return shape


def _resolve_shape(name: str, raw: tuple, *, batch: int, overrides: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    if name in overrides:
        given = overrides[name]
        if len(given) != len(raw):
            raise UsageError(f"--input-shape {name}={','.join(map(str, given))} has rank {len(given)} "
                             f"but input {name!r} has shape {fmt_shape(raw)} (rank {len(raw)})",
                             "give one dimension per axis, batch included")
        for g, r in zip(given, raw):
            if r is not None and r >= 0 and g != r:
                raise UsageError(f"--input-shape {name}={','.join(map(str, given))} conflicts with the fixed "
                                 f"shape {fmt_shape(raw)} of input {name!r}",
                                 "only dynamic (?) dimensions can be set")
        return given
    fixed = []
    for i, d in enumerate(raw):
        if d is None or d < 0:
            if i == 0:
                fixed.append(batch)
                continue
            example = ",".join(str(batch) if j == 0 else ("N" if (x is None or x < 0) else str(x))
                               for j, x in enumerate(raw))
            raise InputError(f"input {name!r} has dynamic shape {fmt_shape(raw)}: mobile runtimes and GPU "
                             f"delegates need fixed shapes",
                             f"pass --input-shape {name}={example} with N set")
        fixed.append(int(d))
    return tuple(fixed)
