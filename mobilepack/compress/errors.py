"""Errors specific to compression."""

from __future__ import annotations

from mobilepack.errors import InputError, MobilepackError

SUPPORTED_MODELS = ("Sequential or functional Keras models built from standard Keras layers "
                    "(no subclassed models, custom layers, Lambda layers or nested models)")


class UnsupportedModel(InputError):
    """The model cannot take the tf-keras (tensorflow-model-optimization) path (exit 2)."""


class TrainingError(MobilepackError):
    """Fine-tuning or the training worker failed (exit 1)."""
