"""mobilepack: from a trained TensorFlow model to phone-ready TFLite variants and demo apps.

The library API mirrors the CLI: ``mobilepack.convert(source, out, quantize=..., ...)``.
Importing ``mobilepack`` is cheap; TensorFlow is imported only when a stage needs it.
"""

from mobilepack._version import __version__
from mobilepack.errors import MobilepackError


def convert(source, out, **options):
    """Convert ``source`` to TFLite variants in ``out``; see :func:`mobilepack.pipeline.convert`."""
    from mobilepack.pipeline import convert as _convert

    return _convert(source, out, **options)


def build(source=None, **options):
    """Run every stage and write OUT; see :func:`mobilepack.pipeline.runner.build`."""
    from mobilepack.pipeline.runner import build as _build

    return _build(source, **options)


__all__ = ["MobilepackError", "__version__", "build", "convert"]
