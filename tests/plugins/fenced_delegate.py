"""A delegate added from outside mobilepack that brings its own behaviour: one module, one ``register()`` call.

``fenced`` opens the model with LiteRT's built-in kernels, but only

* in a child whose environment holds ``MP_FENCED_KEY`` — which only its own
  :meth:`FencedBehaviour.child_setup` puts there (as the GPU's puts ``VK_ICD_FILENAMES``);
* for a model without float16 tensors: it refuses one with ``FENCE: ...``, which its own
  :meth:`FencedBehaviour.refusal` reads as ``delegate_refused`` with its own note.

It cannot take ``--input-shape`` either (``input_shape_refusal``)."""

import os

from mobilepack.runtime.behaviour import Behaviour, ChildSetup, Failure
from mobilepack.runtime.delegates import Delegate, InterpreterSession, register

KEY = "MP_FENCED_KEY"
SECRET = "open-sesame"
NOTE = "the fence takes float32 models only: ship the fp32 variant with it"
REFUSAL = "FENCE: float16 tensors are not accelerated"


class FencedBehaviour(Behaviour):
    input_shape_refusal = "the fence compiles the model's own input shapes"

    def child_setup(self) -> ChildSetup:
        return ChildSetup(env={KEY: SECRET}, forkable=frozenset({KEY}))

    def refusal(self, error, log):
        if error and REFUSAL in error:
            return Failure("delegate_refused", REFUSAL, note=NOTE)
        return None


def _open(delegate: dict, path: str, threads: int, shapes: dict) -> InterpreterSession:
    if os.environ.get(KEY) != SECRET:
        raise RuntimeError(f"{KEY} is not set: the fenced delegate's child environment is missing")
    session = InterpreterSession(path, resolver="reference", threads=1, input_shapes=shapes)
    if any(d["dtype"].__name__ == "float16" for d in session.it.get_tensor_details()):
        raise RuntimeError(f"{REFUSAL} ({os.path.basename(path)})")
    return session


register(Delegate("fenced", "built-in kernels behind a fence (a plug-in with its own behaviour)", opener="fenced",
                  source=__file__), opener=_open, behaviour=FencedBehaviour())
