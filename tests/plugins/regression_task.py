"""A task added from outside mobilepack: one module, one ``register()`` call.

``image_regression``: one image in, one output of real values (an age, an angle, a quality
score).  It is detected from the tensors (an image input and a single [1, 1] output; a vector
of two or more is taken as class scores), its metadata describes the image input (with its
normalization) and the values, the demo apps feed the image and show the values, and the
variants are judged by the R² of their values against fp32's.  The registration names this
file (``source``): the evaluation child process runs it before evaluating."""

import numpy as np

from mobilepack.evaluate.metrics import max_abs_error
from mobilepack.evaluate.tasks import Evaluator
from mobilepack.metadata.tasks import draft, image_input_md, tensor_md
from mobilepack.tasks import TaskSpec, register


def _detect(sig):
    out = sig.outputs[0] if len(sig.outputs) == 1 else None
    if sig.image and out is not None and tuple(out.shape) == (1, 1):
        return f"{sig.image_why}; one real-valued output {sig.outs}"
    return None


def _writer(req):
    return draft(req, [image_input_md(req, "Input image to be scored.")],
                 [tensor_md(t, "output", req.value_ranges) for t in req.outputs])


def _reduce(outputs, hints):
    y = np.asarray(outputs[0][1], np.float32)
    return {"values": y.reshape(y.shape[0] if y.ndim else 1, -1)}


def _agreement(pred, ref):
    p, r = pred["values"].ravel(), ref["values"].ravel()
    spread = float(((r - r.mean()) ** 2).sum())
    r2 = 1.0 - float(((p - r) ** 2).sum()) / spread if spread > 0 else float(np.allclose(p, r))
    return {"r2": r2, "max_abs_error": max_abs_error(p, r) if len(p) else 0.0}


register(TaskSpec("image_regression", "one image in, a few real values out", _writer,
                  Evaluator("R²", "r2", 0.9, None, _reduce, _agreement), detect=_detect, priority=60,
                  image_input=True, one_output=True, labels="none", app_input="image", app_output="generic",
                  source=__file__))
