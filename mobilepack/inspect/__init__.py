"""``inspect``: what a .tflite holds and whether it will deploy (never imports TensorFlow).

``inspect_model(path)`` verifies the flatbuffer in pure Python, reads its structure and
metadata, loads it in stock LiteRT and compiles it with LiteRT's GPU accelerator (both
in child processes), and returns an :class:`~mobilepack.inspect.report.InspectResult`
with lint findings."""

from __future__ import annotations


def inspect_model(path, **options):
    """See :func:`mobilepack.inspect.report.inspect_model`."""
    from mobilepack.inspect.report import inspect_model as _inspect

    return _inspect(path, **options)


__all__ = ["inspect_model"]
