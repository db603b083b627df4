"""``manifest.json`` of a build output directory, and protection of user edits.

The manifest lists the inputs (with sha256), the resolved configuration, tool
versions, and every output file with its sha256.  Before a re-run writes into
OUT, :func:`check_out_dir` compares the files on disk with the previous manifest:
a generated file whose hash changed was edited by the user, and the build stops
(listing them) unless ``force``.  A non-empty directory without a manifest was
not created by mobilepack and is never written into without ``force``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack.cache import sha256_file
from mobilepack.errors import OutputError

MANIFEST = "manifest.json"
MANIFEST_SCHEMA_VERSION = "1.0"


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class OutState:
    previous: dict[str, str]        # relpath -> sha256 from the previous manifest (generated files)
    foreign: tuple[str, ...]        # files in OUT that mobilepack did not generate (kept across re-runs)
    edited: tuple[str, ...]         # generated files the user changed


def check_out_dir(out: Path, *, force: bool) -> OutState:
    if not out.exists():
        return OutState({}, (), ())
    if not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a directory", "choose a directory for -o")
    present = tree_hashes(out)
    manifest = out / MANIFEST
    if not manifest.is_file():
        if present and not force:
            raise OutputError(f"{out} is not empty and was not created by mobilepack (no {MANIFEST})",
                              "choose another -o, or pass --force to write into it")
        return OutState({}, tuple(sorted(present)), ())
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        previous = {k: v for k, v in data["outputs"].items()}
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        if not force:
            raise OutputError(f"{manifest} is unreadable, so user edits cannot be detected",
                              "pass --force to rebuild anyway, or remove the directory") from exc
        previous = {}
    edited = tuple(sorted(k for k, v in previous.items() if k in present and present[k] != v))
    if edited and not force:
        shown = ", ".join(edited[:8]) + (f" and {len(edited) - 8} more" if len(edited) > 8 else "")
        raise OutputError(f"you edited {len(edited)} generated file(s) in {out}: {shown}",
                          "copy your changes elsewhere, or pass --force to overwrite them")
    foreign = tuple(sorted(k for k in present if k not in previous and k != MANIFEST))
    return OutState(previous, foreign, edited)


def write_manifest(root: Path, *, inputs: list[dict[str, Any]], config: dict[str, Any],
                   tools: dict[str, Any], generated: list[str]) -> dict[str, Any]:
    outputs = {rel: sha256_file(root / rel) for rel in sorted(generated)}
    data = {"schema_version": MANIFEST_SCHEMA_VERSION, "created_by": "mobilepack build", "inputs": inputs,
            "config": config, "tools": tools, "outputs": outputs}
    (root / MANIFEST).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return data
