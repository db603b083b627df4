"""A delegate added from outside mobilepack: one module, one ``register()`` call.

``plaincpu`` opens the model with LiteRT's built-in kernels (no default delegates) on one
thread through its own opener.  The registration names this file (``source``): the bench
and evaluation child processes run it before opening, so the opener exists there too."""

from mobilepack.runtime.delegates import Delegate, InterpreterSession, register

register(Delegate("plaincpu", "built-in kernels through a plug-in opener", opener="plaincpu", source=__file__),
         opener=lambda d, path, threads, shapes: InterpreterSession(path, resolver="reference", threads=1,
                                                                    input_shapes=shapes))
