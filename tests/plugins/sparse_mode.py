"""A quantization mode added from outside mobilepack: one module, one ``register()`` call.

``sparse`` asks the converter to encode sparse weights (for pruned models); compute stays
float32.  Its files are ``<model>_sp.tflite``, it is not converted by default, and the
no-label rule tries it before every built-in mode (``fallback=-1``, ungated)."""

from mobilepack.conversion.quantization import IODtype, ModeSpec, Tolerance, register


def _sparse(conv, tf, opts) -> None:
    conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]


register(ModeSpec("sparse", "sparse-encoded float32 weights (pruned models)", needs_calibration=False,
                  integer=False, io_dtypes=(IODtype.FLOAT32,), tolerance=Tolerance(0.9999, 0.999),
                  configure=_sparse, suffix="sp", fallback=-1))
