"""Loading source models (SavedModel, .keras, .h5, .tflite, in-memory Keras) into a
``SourceModel``: a ``ModelSpec`` with fixed shapes plus the means to export a
fixed-signature SavedModel for the converter and to run the source model."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mobilepack.errors import InputError, ModelLoadError, UsageError
from mobilepack.model.shapes import fmt_shape as _fmt_shape, parse_input_shapes, resolve_shape  # noqa: F401
# (parse_input_shapes is re-exported: the CLI imports it from here)
from mobilepack.model.spec import ModelSpec, Normalization, SourceFormat, TensorSpec
from mobilepack.model.tfimport import keras as _keras, silenced, tensorflow as _tf

SERVING_KEY = "serving_default"
SUPPORTED = "a SavedModel directory, a .keras file, a legacy .h5 Keras file, or a .tflite file"


def detect_format(path: str | Path) -> SourceFormat:
    p = Path(path)
    if not p.exists():
        raise InputError(f"model path does not exist: {p}", f"pass {SUPPORTED}")
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return SourceFormat.SAVED_MODEL
        raise InputError(f"{p} is a directory but not a SavedModel (no saved_model.pb inside)",
                         f"pass {SUPPORTED}")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty", f"pass {SUPPORTED}")
    suffix = p.suffix.lower()
    if suffix == ".keras":
        if not zipfile.is_zipfile(p):
            from mobilepack.model.filecheck import check_keras

            check_keras(p)   # says what it is: truncated, another format, weights only
        return SourceFormat.KERAS
    if suffix in (".h5", ".hdf5"):
        from mobilepack.model.filecheck import check_h5

        check_h5(p)
        return SourceFormat.H5
    if suffix == ".tflite":
        with open(p, "rb") as fh:
            head = fh.read(8)
        if len(head) < 8 or head[4:8] != b"TFL3":
            raise ModelLoadError(f"{p} is not a TFLite flatbuffer (no TFL3 identifier)",
                                 "pass a .tflite produced by a TFLite converter")
        return SourceFormat.TFLITE
    raise InputError(f"unsupported model file {p.name!r}", f"pass {SUPPORTED}")


@dataclass
class SourceModel:
    """A loaded source model.  ``spec`` has the fixed shapes the variants will have."""

    spec: ModelSpec
    raw_input_shapes: dict[str, tuple]
    _keras_model: Any = None
    _saved_model: Any = None
    _signature_fn: Any = None
    tflite_bytes: bytes | None = None
    _export_cache: dict = field(default_factory=dict)

    @property
    def is_tflite(self) -> bool:
        return self.spec.source_format == SourceFormat.TFLITE

    def weight_bytes(self) -> int:
        """Bytes of the weights the model's call reads, each variable once: a Keras-exported SavedModel
        stores every variable twice (Keras' variable and the tf.Variable it wraps), so its
        ``variables/`` folder is twice the model (#21)."""
        if self._keras_model is not None:
            found = self._keras_model.weights
        elif self._signature_fn is not None:
            found = self._signature_fn.variables
        else:
            return len(self.tflite_bytes or b"")
        import numpy as np

        def nbytes(v) -> int:
            dtype = getattr(v.dtype, "as_numpy_dtype", v.dtype)   # a tf.DType, or Keras' dtype name
            return int(np.prod([d or 0 for d in tuple(v.shape)])) * np.dtype(dtype).itemsize

        return sum(nbytes(v) for v in found)

    def release(self) -> None:
        """Drop the TensorFlow model once its references are computed and its fixed-shape SavedModel
        written: converting reads that SavedModel, not this object, and a 110 M-parameter model
        held through the conversions costs the build ~1 GB beside the second converter (#21)."""
        import gc

        self._keras_model = self._saved_model = self._signature_fn = None
        self._export_cache.clear()
        gc.collect()

    # -- export -------------------------------------------------------------------------
    def export_saved_model(self, directory: str | Path, *, any_batch: bool = False) -> str:
        """Write a SavedModel whose ``serving_default`` signature has the fixed input shapes (with
        ``any_batch``, the batch dimension left open, as a server batches requests)."""
        if self.is_tflite:
            raise UsageError("a .tflite source cannot be re-exported", "convert from the original model")
        tf = _tf()
        directory = str(directory)
        specs = [tf.TensorSpec((None, *t.shape[1:]) if any_batch else t.shape, tf.as_dtype(t.dtype), name=t.name)
                 for t in self.spec.inputs]
        names = [t.name for t in self.spec.inputs]
        out_names = [t.name for t in self.spec.outputs]
        with silenced():
            if self._keras_model is not None:
                model = self._keras_model
                from keras.export import ExportArchive

                def serve(*args):
                    x = args[0] if len(args) == 1 else list(args)
                    y = model(x, training=False)
                    return _name_outputs(y, out_names)

                archive = ExportArchive()
                archive.track(model)
                archive.add_endpoint(SERVING_KEY, serve, input_signature=specs)
                archive.write_out(directory)
            else:
                fn = self._signature_fn
                module = tf.Module()
                module.source = self._saved_model

                def serve(*args):
                    return fn(**dict(zip(names, args)))

                module.serve = tf.function(serve, input_signature=specs)
                tf.saved_model.save(module, directory,
                                    signatures={SERVING_KEY: module.serve.get_concrete_function()})
        return directory

    # -- reference inference ------------------------------------------------------------
    def predict(self, feeds: dict[str, Any]) -> dict[str, Any]:
        """Run the *source* model (not the export) on one batch of inputs."""
        import numpy as np

        tf = _tf()
        if self._keras_model is not None:
            args = [tf.constant(feeds[t.name]) for t in self.spec.inputs]
            x = args[0] if len(args) == 1 else args
            y = self._keras_model(x, training=False)
            named = _name_outputs(y, [t.name for t in self.spec.outputs])
        elif self._signature_fn is not None:
            named = self._signature_fn(**{k: tf.constant(v) for k, v in feeds.items()})
        else:
            raise UsageError("a .tflite source has no reference model", "validate against the original model")
        return {k: np.asarray(v) for k, v in named.items()}


def _name_outputs(y, names: list[str]) -> dict:
    if isinstance(y, dict):
        return {k: y[k] for k in names} if set(names) == set(y) else dict(y)
    if isinstance(y, (list, tuple)):
        return dict(zip(names, y))
    return {names[0]: y}


def _model_name(path: Path) -> str:
    stem = path.name if path.is_dir() else path.stem
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return name or "model"


def load(source: Any, *, signature_key: str | None = None, input_shapes: dict[str, tuple[int, ...]] | None = None,
         batch: int = 1, safe_mode: bool = True) -> SourceModel:
    """Load ``source`` (a path, or an in-memory ``keras.Model``)."""
    if batch < 1:
        raise UsageError(f"--batch must be ≥ 1 (got {batch})", "the default is 1")
    overrides = dict(input_shapes or {})
    if not isinstance(source, (str, Path)):
        return _from_keras(source, name=_model_name(Path(getattr(source, "name", "model") or "model")),
                           path="<in-memory keras.Model>", fmt=SourceFormat.KERAS_OBJECT,
                           batch=batch, overrides=overrides)
    path = Path(source)
    fmt = detect_format(path)
    if fmt == SourceFormat.TFLITE:
        return _from_tflite(path, overrides, batch, signature_key)
    if fmt == SourceFormat.SAVED_MODEL:
        return _from_saved_model(path, signature_key=signature_key, batch=batch, overrides=overrides)
    if signature_key not in (None, SERVING_KEY):
        raise UsageError(f"--signature {signature_key!r} applies to SavedModels only",
                         "Keras models have one call signature; drop --signature")
    keras = _keras()
    try:
        with silenced() as log:
            model = keras.models.load_model(str(path), compile=False, safe_mode=safe_mode)
    except Exception as exc:  # keras raises many kinds
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ModelLoadError(f"{path} contains a Lambda layer with serialized Python code; "
                                 f"it was not loaded because that code would run",
                                 "if you trust this file, pass --unsafe-load") from exc
        msg, hint = keras_load_failure(exc, fmt)
        raise ModelLoadError(f"cannot load Keras model {path}: {msg}", hint) from exc
    del log
    return _from_keras(model, name=_model_name(path), path=str(path), fmt=fmt, batch=batch, overrides=overrides)


def keras_load_failure(exc: BaseException, fmt: SourceFormat) -> tuple[str, str]:
    """(message, hint) for a Keras load error.  Keras wraps the cause ("Exception encountered: ...",
    or a chained exception) after a first line that only names the layer; keep both."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    cause = None
    m = re.search(r"Exception encountered:\s*(.+)", text, re.S)
    if m:
        cause = m.group(1).strip().splitlines()[0]
    elif exc.__cause__ is not None or exc.__context__ is not None:
        inner = exc.__cause__ or exc.__context__
        cause = (str(inner).strip().splitlines() or [type(inner).__name__])[0]
    layer = re.match(r"(Error when deserializing class '[^']+')", first)
    head = layer.group(1) if layer else first[:200]
    msg = f"{head}: {cause[:300]}" if cause and cause not in head else first[:300]
    written_by_keras2 = fmt == SourceFormat.H5 or "Unrecognized keyword arguments" in text
    if "character `/`" in text or "'/'" in text:
        hint = ("Keras 3 does not allow '/' in layer or weight names, which Keras 2 (tf.keras) wrote; rename the "
                "layers in Keras 2 (or tf_keras) and save again, or export a SavedModel there "
                "(model.export('dir')) and pass the directory")
    elif "Unrecognized keyword arguments" in text or "Could not locate class" in text:
        hint = ("the file was written by an older Keras (2.x / tf.keras) whose layer arguments Keras 3 does not "
                "accept; load it with tf_keras and export a SavedModel (model.export('dir')), then pass the "
                "directory" if written_by_keras2 else
                "a layer's class or arguments are unknown to this Keras: make custom layers importable "
                "(registered with keras.saving.register_keras_serializable)")
    else:
        hint = "check that it was saved by Keras (model.save) and that custom layers are importable"
    return msg, hint


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _keras_input_dtype(model, tensor) -> str:
    """The input's dtype; int32 for a float input that feeds only Embedding layers.  An Embedding looks up
    integer token ids (Keras casts a float input to int), so the ids are what the model takes: a float32
    token-id input would make the app's tokenizer write ids into a float tensor."""
    dtype = str(tensor.dtype)
    if not dtype.startswith("float"):
        return dtype
    import keras

    consumers = []
    for layer in getattr(model, "layers", []):
        try:
            feeds = keras.tree.flatten(layer.input)
        except (AttributeError, ValueError):  # a layer called more than once, or never
            continue
        if any(t is tensor for t in feeds):
            consumers.append(layer)
    if consumers and all(isinstance(layer, keras.layers.Embedding) for layer in consumers):
        return "int32"
    return dtype


def _keras_inputs(model, overrides) -> list[tuple[str, tuple, str]]:
    """(name, raw shape with None, dtype) for each input of a Keras model."""
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if inputs:
        return [(t.name, tuple(t.shape), _keras_input_dtype(model, t)) for t in inputs]
    # subclassed model: use its build config, else the user's --input-shape
    shape = None
    try:
        shape = (model.get_build_config() or {}).get("input_shape")
    except Exception:
        shape = None
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(d, (int, type(None))) for d in shape):
        name = next(iter(overrides), "input")
        return [(name, tuple(shape), "float32")]
    if len(overrides) == 1:
        name, dims = next(iter(overrides.items()))
        return [(name, tuple(dims), "float32")]
    raise InputError("cannot tell the input shape of this subclassed Keras model",
                     "call it once before saving, or pass --input-shape input=1,H,W,C")


def _from_keras(model, *, name: str, path: str, fmt: SourceFormat, batch: int, overrides) -> SourceModel:
    from mobilepack.model.normalization import from_keras_model

    raw_inputs = _keras_inputs(model, overrides)
    _check_override_names(overrides, [n for n, _, _ in raw_inputs])
    inputs = tuple(TensorSpec(name=n, shape=resolve_shape(n, raw, batch=batch, overrides=overrides), dtype=dt,
                              shape_signature=tuple(-1 if d is None else int(d) for d in raw))
                   for n, raw, dt in raw_inputs)
    # run once symbolically to learn output shapes and names
    tf = _tf()
    with silenced():
        feeds = [tf.zeros(t.shape, tf.as_dtype(t.dtype)) for t in inputs]
        try:
            y = model(feeds[0] if len(feeds) == 1 else feeds, training=False)
        except Exception as exc:
            raise ModelLoadError(f"the Keras model failed on inputs of shape "
                                 f"{', '.join(_fmt_shape(t.shape) for t in inputs)}: {_first_line(exc)}",
                                 "check --input-shape / --batch") from exc
    out_names = _keras_output_names(model, y)
    named = _name_outputs(y, out_names)
    outputs = tuple(TensorSpec(name=k, shape=tuple(int(d) for d in v.shape), dtype=v.dtype.name)
                    for k, v in named.items())
    norm = from_keras_model(model)
    spec = ModelSpec(name=name, source_path=path, source_format=fmt, inputs=inputs, outputs=outputs,
                     signature_key=SERVING_KEY, normalization=norm,
                     provenance={"inputs": "keras model", **({"normalization": "model_layer"} if norm else {})})
    return SourceModel(spec=spec, raw_input_shapes={n: raw for n, raw, _ in raw_inputs}, _keras_model=model)


def _keras_output_names(model, y) -> list[str]:
    if isinstance(y, dict):
        return list(y)
    count = len(y) if isinstance(y, (list, tuple)) else 1
    names = None
    try:
        names = list(model.output_names)
    except Exception:
        names = None
    if not names or len(names) != count or len(set(names)) != count:
        names = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
    return names


def _check_override_names(overrides, names) -> None:
    unknown = [n for n in overrides if n not in names]
    if unknown:
        raise UsageError(f"--input-shape names unknown input {unknown[0]!r}",
                         f"the model's inputs are: {', '.join(names)}")


def _from_saved_model(path: Path, *, signature_key, batch, overrides) -> SourceModel:
    tf = _tf(need_keras=False)   # a SavedModel loads without Keras; the CLI's import leaves it out
    try:
        with silenced():
            loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"cannot load SavedModel {path}: {_first_line(exc)}",
                             "check that the directory was written by tf.saved_model.save") from exc
    keys = list(loaded.signatures.keys())
    if not keys:
        raise ModelLoadError(f"SavedModel {path} has no signatures",
                             "save it with signatures=..., or pass the Keras model instead")
    if signature_key is None:
        signature_key = SERVING_KEY if SERVING_KEY in keys else (keys[0] if len(keys) == 1 else None)
        if signature_key is None:
            raise UsageError(f"SavedModel {path} has several signatures and none is {SERVING_KEY!r}",
                             f"pass --signature with one of: {', '.join(keys)}")
    if signature_key not in keys:
        raise UsageError(f"SavedModel {path} has no signature {signature_key!r}",
                         f"valid signatures: {', '.join(keys)}")
    fn = loaded.signatures[signature_key]
    _, kwargs = fn.structured_input_signature
    names = sorted(kwargs)
    _check_override_names(overrides, names)
    raw = {n: tuple(None if d is None else int(d) for d in kwargs[n].shape.as_list()) for n in names}
    inputs = tuple(TensorSpec(name=n, shape=resolve_shape(n, raw[n], batch=batch, overrides=overrides),
                              dtype=kwargs[n].dtype.name, shape_signature=tuple(-1 if d is None else d for d in raw[n]))
                   for n in names)
    with silenced():
        try:
            y = fn(**{t.name: tf.zeros(t.shape, tf.as_dtype(t.dtype)) for t in inputs})
        except Exception as exc:
            raise ModelLoadError(f"the SavedModel failed on inputs of shape "
                                 f"{', '.join(_fmt_shape(t.shape) for t in inputs)}: {_first_line(exc)}",
                                 "check --input-shape / --batch") from exc
    outputs = tuple(TensorSpec(name=k, shape=tuple(int(d) for d in v.shape), dtype=v.dtype.name)
                    for k, v in sorted(y.items()))
    spec = ModelSpec(name=_model_name(path), source_path=str(path), source_format=SourceFormat.SAVED_MODEL,
                     inputs=inputs, outputs=outputs, signature_key=signature_key,
                     provenance={"inputs": f"signature {signature_key}"})
    return SourceModel(spec=spec, raw_input_shapes=raw, _saved_model=loaded, _signature_fn=fn)


def _from_tflite(path: Path, overrides: dict[str, tuple[int, ...]], batch: int, signature_key) -> SourceModel:
    """A .tflite source (``model.tflite_source``): dynamic dimensions fixed by --input-shape/--batch."""
    from mobilepack.model.tflite_source import read_tflite_source

    data, inputs, outputs, key = read_tflite_source(path, overrides, batch=batch, signature_key=signature_key)
    fixed = "tflite --input-shape" if data != path.read_bytes() else "tflite"
    spec = ModelSpec(name=_model_name(path), source_path=str(path), source_format=SourceFormat.TFLITE,
                     inputs=inputs, outputs=outputs, signature_key=key, provenance={"inputs": fixed})
    return SourceModel(spec=spec, raw_input_shapes={t.name: t.shape_signature for t in inputs}, tflite_bytes=data)


def with_normalization(source: SourceModel, norm: Normalization | None) -> SourceModel:
    if norm is None:
        return source
    prov = dict(source.spec.provenance, normalization=norm.source)
    source.spec = replace(source.spec, normalization=norm, provenance=prov)
    return source
