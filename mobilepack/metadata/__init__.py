"""Writing and reading TFLite metadata per task.

``attach(model_bytes, task=..., labels=..., normalization=...)`` is the stage the
``metadata`` command (and later ``build``) calls; ``read(model_bytes)`` reads metadata in
pure Python.  The metadata flatbuffer is built by mobilepack itself (``schema.py``, ``packing.py``)
with the ``flatbuffers`` runtime; importing this package is cheap and never imports TensorFlow."""

from mobilepack.metadata.calibration import ScoreCalibration
from mobilepack.metadata.writer import GeneralInfo, MetadataMismatch, MetadataResult, attach, read, spec_beside

__all__ = ["GeneralInfo", "MetadataMismatch", "MetadataResult", "ScoreCalibration", "attach", "read", "spec_beside"]
