"""Populating a tflite-support writer's metadata into the model, with the amendments its
writers have no option for (a score threshold, detector outputs in another order)."""

from __future__ import annotations

import logging
import warnings

from mobilepack.errors import InputError, MobilepackError


def score_threshold(threshold: float):
    def amend(md) -> None:
        from tensorflow_lite_support.metadata import metadata_schema_py_generated as fb

        unit = fb.ProcessUnitT()
        unit.optionsType = fb.ProcessUnitOptions.ScoreThresholdingOptions
        unit.options = fb.ScoreThresholdingOptionsT()
        unit.options.globalScoreThreshold = float(threshold)
        tensor = md.subgraphMetadata[0].outputTensorMetadata[0]
        tensor.processUnits = [*(tensor.processUnits or []), unit]

    return amend


def populate(writer, amendments) -> bytes:
    """Populate the writer's metadata into the model, after ``amendments`` (functions
    over the unpacked ``ModelMetadataT``) for what tflite-support's writers have no
    option for: a score threshold, detector outputs not in TFLite_Detection_PostProcess order."""
    from tensorflow_lite_support.metadata import metadata_schema_py_generated as fb

    from mobilepack.metadata.tasks import load_tflite_support

    _metadata = load_tflite_support()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        previous = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)
        try:
            if amendments:
                import flatbuffers

                md = fb.ModelMetadataT.InitFromPackedBuf(bytes(writer._metadata_buffer), 0)
                for amend in amendments:
                    amend(md)
                b = flatbuffers.Builder(0)
                b.Finish(md.Pack(b), _metadata.MetadataPopulator.METADATA_FILE_IDENTIFIER)
                writer._metadata_buffer = b.Output()
            return bytes(writer.populate())
        except MobilepackError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InputError(f"tflite-support refused the metadata: {str(exc).strip().splitlines()[0][:300]}",
                             "check --task against the model's inputs/outputs (`mobilepack inspect`)") from None
        finally:
            logging.getLogger().setLevel(previous)
