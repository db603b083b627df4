"""Rendering a target's template tree into a project directory.

Every file under ``templates/<target>/`` is rendered: ``*.j2`` files through Jinja
(StrictUndefined; the ``.j2`` suffix is dropped), other files copied byte for byte.
Path components may hold Jinja expressions (``{{ app.name }}.xcodeproj``); they are
rendered and must not escape the output directory.  The same inputs give
byte-identical output.  The project is written atomically."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mobilepack.errors import MobilepackError, UsageError
from mobilepack.render.context import RenderInputs, build_context
from mobilepack.render.environment import templates_root
from mobilepack.render.targets import Target, get as get_target
from mobilepack.staging import StagedOutput

RECORD = "mobilepack-render.json"
RENDER_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class RenderResult:
    target: str
    out_dir: str
    files: tuple[str, ...]
    context: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": RENDER_SCHEMA_VERSION, "target": self.target, "out_dir": self.out_dir,
                "files": list(self.files), "app": self.context["app"],
                "model": {k: self.context["model"][k] for k in ("name", "variant", "bytes", "task")}}


def template_folder(target: Target) -> Path:
    """The target's template tree (an absolute ``template_dir`` is used as it is)."""
    return templates_root() / target.template_dir


def target_environment(target: Target):
    """A fresh Jinja environment for ``target`` with its escaping filters; template names are
    relative to the target's folder."""
    import jinja2

    from mobilepack.render.environment import environment

    base = environment()
    env = base.overlay(loader=jinja2.FileSystemLoader(str(template_folder(target))))
    from mobilepack.render.escaping import SHARED_FILTERS

    env.filters.update(SHARED_FILTERS)
    env.filters.update(target.filters)
    return env


def _safe_relative(rendered: str) -> str:
    p = PurePosixPath(rendered)
    if p.is_absolute() or any(part in ("..", "") for part in p.parts) or "\x00" in rendered:
        raise UsageError(f"a rendered path {rendered!r} would leave the output directory",
                         "choose an app name without '/', '..' or NUL")
    return str(p)


def render_files(target: Target, context: dict[str, Any]) -> dict[str, bytes]:
    """{relative path: content} for every template file (no assets)."""
    env = target_environment(target)
    root = template_folder(target)
    if not root.is_dir():
        raise MobilepackError(f"templates for target {target.name!r} are missing ({root})",
                              "reinstall mobilepack")
    files: dict[str, bytes] = {}
    for src in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = src.relative_to(root).as_posix()
        if "__pycache__" in rel:
            continue
        out_rel = env.from_string(rel).render(**context) if "{{" in rel else rel
        if out_rel.endswith(".j2"):
            out_rel = out_rel[:-3]
            text = env.get_template(rel).render(**context)
            data = text.encode("utf-8")
        else:
            data = src.read_bytes()
        files[_safe_relative(out_rel)] = data
    return files


def prepare(target_name: str, inputs: RenderInputs) -> tuple[Target, dict[str, Any], dict[str, bytes]]:
    """Validate, build the context and render every file in memory: (target, context, files)."""
    target = get_target(target_name)
    target.validate_id(inputs.app_id)
    context = build_context(inputs)
    if target.extend_context:
        context.update(target.extend_context(context))
    files = render_files(target, context)
    if target.assets:
        for rel, data in target.assets(inputs, context).items():
            files[_safe_relative(rel)] = data
    return target, context, files


def write_files(directory: Path, files: dict[str, bytes]) -> None:
    for rel in sorted(files):
        dest = directory / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(files[rel])


def render_into(directory: Path, target_name: str, inputs: RenderInputs) -> RenderResult:
    """Render into ``directory`` (no staging: the caller owns atomicity, e.g. ``build``)."""
    target, context, files = prepare(target_name, inputs)
    write_files(directory, files)
    return RenderResult(target=target.name, out_dir=str(directory), files=tuple(sorted(files)), context=context)


def render_project(target_name: str, inputs: RenderInputs, out: str | Path) -> RenderResult:
    """Render a project into ``out`` atomically, with a record of the files written."""
    target, context, files = prepare(target_name, inputs)
    names = sorted(files)
    with StagedOutput(out, record=RECORD) as stage:
        top = sorted({n.split("/")[0] for n in names})
        stage.check_names(top)
        write_files(stage.path, files)
        record = {"schema_version": RENDER_SCHEMA_VERSION, "target": target.name,
                  "files": top + [RECORD],
                  "sha256": {rel: hashlib.sha256(files[rel]).hexdigest() for rel in names}}
        (stage.path / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        stage.commit()
    return RenderResult(target=target.name, out_dir=str(Path(out).absolute()), files=tuple(names), context=context)
