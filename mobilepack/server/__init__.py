"""The server target: the model for TensorFlow Serving and for Ray Serve, measured for throughput.

``--target server`` writes ``OUT/server/`` (:mod:`mobilepack.server.target`): a versioned SavedModel
with TF Serving's config files (:mod:`.tfserving`, :mod:`.export`), and a Ray Serve application
(:mod:`.ray_app`) that answers TF Serving's REST predict format (:mod:`.protocol`), with the batch size,
replica count and variant chosen from a bounded load test on loopback (:mod:`.loadgen`, :mod:`.grid`).
``mobilepack serve OUT/server`` runs that application (:mod:`.running`).

Ray Serve and the TF Serving protos are the optional extra ``mobilepack[server]``; nothing here
imports them at module level."""

from __future__ import annotations

import importlib.util

from mobilepack.errors import MobilepackError

EXTRA = "mobilepack[server]"
# The official image, pinned to the TensorFlow release mobilepack exports with (tensorflow==2.21.*).
TF_SERVING_IMAGE = "tensorflow/serving:2.21.0"


class ServerExtraMissing(MobilepackError):
    """The optional extra mobilepack[server] is not installed (exit 2)."""

    exit_code = 2


def require_extra(what: str = "--target server") -> None:
    """Raise :class:`ServerExtraMissing` (one line naming the extra) unless Ray Serve and the TF Serving
    protos can be imported."""
    missing = [name for name, module in (("ray[serve]", "ray.serve"), ("tensorflow-serving-api", "tensorflow_serving"))
               if _missing(module)]
    if missing:
        raise ServerExtraMissing(f"{what} needs the optional extra {EXTRA} ({', '.join(missing)} not installed)",
                                 f"pip install '{EXTRA}'")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError, AttributeError):   # a parent package missing or blocked (None in sys.modules)
        return True
