"""TensorFlow's import in mobilepack's own processes: Keras' scikit-learn wrappers are left out
(``model.tfimport.lean_import``), and everything mobilepack loads through TensorFlow and Keras still works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits" / "digits.keras"


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_lean_import_leaves_out_scikit_learn_and_keras_still_loads_a_model():
    pytest.importorskip("sklearn")
    line = _run(f"""
import sys
from mobilepack.model.tfimport import keras, lean_import, tensorflow
lean_import()
tensorflow()
hidden = "sklearn" not in sys.modules
import numpy as np
model = keras().models.load_model({str(DIGITS)!r}, compile=False)
y = model.predict(np.zeros((1, *model.input_shape[1:]), np.float32), verbose=0)
import sklearn   # importable again afterwards
print(hidden, y.shape[0], "sklearn" in sys.modules)
""")
    assert line == "True 1 True"


def test_a_library_caller_gets_tensorflows_own_import():
    """Without lean_import (``import mobilepack`` in someone's program) TensorFlow imports as it does on
    its own — here, with the scikit-learn wrappers the lean import leaves out (so that test means something)."""
    pytest.importorskip("sklearn")
    line = _run("""
import sys
import mobilepack
from mobilepack.model.tfimport import tensorflow
tensorflow()
print("sklearn" in sys.modules)
""")
    assert line == "True"


def test_the_cli_imports_tensorflow_lean():
    pytest.importorskip("sklearn")
    line = _run("""
import sys
import mobilepack.cli as cli
from mobilepack.model.tfimport import tensorflow

def app(prog_name):
    tensorflow()
    print("sklearn" in sys.modules, flush=True)

cli.app = app
cli.main()
""")
    assert line == "False"


def test_a_savedmodel_import_leaves_keras_out_and_still_converts(tmp_path):
    """A SavedModel source and the second converter (``conversion.parallel``) need no Keras: their lean
    import (``tensorflow(need_keras=False)``) leaves Keras and matplotlib out too, TFLiteConverter still
    converts, and Keras can be imported afterwards."""
    line = _run(f"""
import sys
from mobilepack.model.tfimport import lean_import, tensorflow
lean_import()
tf = tensorflow(need_keras=False)
left_out = [m for m in ("keras", "matplotlib", "sklearn") if m in sys.modules]
module = tf.Module()
module.f = tf.function(lambda x: {{"y": tf.nn.relu(x) * 2.0}}, input_signature=[tf.TensorSpec([1, 4], tf.float32)])
tf.saved_model.save(module, {str(tmp_path / "sm")!r}, signatures={{"serving_default": module.f.get_concrete_function()}})
data = tf.lite.TFLiteConverter.from_saved_model({str(tmp_path / "sm")!r}).convert()
import keras   # importable again afterwards, and as tensorflow.keras
from tensorflow.keras import layers
print(left_out, data[4:8] == b"TFL3", "keras" in sys.modules, None in tf.__path__, layers.Dense.__module__[:6])
""")
    assert line == "[] True True False keras."
    # the CLI loading a SavedModel source: TensorFlow's first import comes from the loader, without Keras
    line = _run(f"""
import sys
from mobilepack.model.tfimport import lean_import
lean_import()
from mobilepack.model.loading import load
src = load({str(tmp_path / "sm")!r})
print("keras" in sys.modules, "matplotlib" in sys.modules, [t.name for t in src.spec.outputs])
""")
    assert line == "False False ['y']"
