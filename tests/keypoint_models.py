"""The zoo's MediaPipe hand landmark model (tests/zoo/models.toml ``hand_landmark_full``) for the
keypoints tests and the JVM harness: fetched with the zoo's pinned npm archive, never trained here.

Its calibration photos (tests/zoo/data/photo_calibration, crops of a portrait) hold no hand, so the
points it gives on them are not a hand; what the tests compare — Kotlin's decode with Python's, a
variant's points with fp32's — is still the same decode of the same real outputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "tests" / "zoo" / "data" / "photo_calibration"
HAND = "hand_landmark_full"
SIZE = 224


def hand_model() -> Path | str:
    """The .tflite's path, or why it could not be fetched."""
    sys.path.insert(0, str(ROOT / "tests" / "zoo"))
    from fetch import fetch, load_zoo

    model = next(m for m in load_zoo() if m.id == HAND)
    got = fetch([model], offline=os.environ.get("MOBILEPACK_ZOO_OFFLINE") == "1")[HAND]
    return got if isinstance(got, Path) else f"{HAND} cannot be fetched: {got}"


def with_metadata(model: bytes) -> bytes:
    """The model with keypoints metadata (detected layout, input in [0, 1])."""
    from mobilepack.metadata import attach
    from mobilepack.model.normalization import from_flags

    return attach(model, normalization=from_flags([0.0], [255.0])).model


def photos() -> list[Path]:
    return sorted(PHOTOS.glob("*.jpg"))
