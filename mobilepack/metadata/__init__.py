"""Writing and reading TFLite metadata per task.

``attach(model_bytes, task=..., labels=..., normalization=...)`` is the stage the
``metadata`` command (and later ``build``) calls; ``read(model_bytes)`` reads metadata in
pure Python.  Importing this package is cheap: tflite-support is imported by the writer
functions only, and TensorFlow never."""

from mobilepack.metadata.writer import GeneralInfo, MetadataMismatch, MetadataResult, attach, read, spec_beside

__all__ = ["GeneralInfo", "MetadataMismatch", "MetadataResult", "attach", "read", "spec_beside"]
