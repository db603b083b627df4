"""The pipelines behind the commands.

``convert`` (:mod:`mobilepack.pipeline.convert_command`): load, validate data, export,
convert and validate each quantization mode, write atomically.  ``build``
(:mod:`mobilepack.pipeline.runner`): the ordered build stages over a typed
:class:`~mobilepack.pipeline.state.BuildState`, with options typed and validated once
(:mod:`mobilepack.pipeline.options`) and the cache at the edge
(:mod:`mobilepack.pipeline.caching`)."""

from __future__ import annotations

from mobilepack.pipeline.convert_command import (DEFAULT_CALIBRATION_SAMPLES, DEFAULT_VALIDATION_SAMPLES, RECORD,
                                                 ConvertOptions, ConvertPlan, ConvertResult, VariantResult,
                                                 add_variant, convert, convert_into, plan_convert)


def build(source=None, **options):
    """Run every build stage; see :func:`mobilepack.pipeline.runner.build`."""
    from mobilepack.pipeline.runner import build as _build

    return _build(source, **options)


__all__ = ["DEFAULT_CALIBRATION_SAMPLES", "DEFAULT_VALIDATION_SAMPLES", "RECORD", "ConvertOptions", "ConvertPlan",
           "ConvertResult", "VariantResult", "add_variant", "build", "convert", "convert_into", "plan_convert"]
