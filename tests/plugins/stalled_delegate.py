"""A delegate whose opener never returns (it sleeps far past any test's timeout): one module, one
``register()`` call.  It makes the bench's per-configuration timeout deterministic — a real model
can answer inside any short timeout once children fork from the warm zygote."""

import time

from mobilepack.runtime.delegates import Delegate, register


def _open(delegate: dict, path: str, threads: int, shapes: dict):
    time.sleep(3600)
    raise RuntimeError("unreachable")


register(Delegate("stalled", "an opener that never returns (tests the timeout)", opener="stalled", source=__file__),
         opener=_open)
