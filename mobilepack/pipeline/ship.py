"""The stages that decide and deliver: select (the variant the apps ship), render (the app
projects, from the shipped variant's own description), report (json, md, html)."""

from __future__ import annotations

import time
from pathlib import Path

from mobilepack.pipeline.state import App, Report
from mobilepack.progress import ProgressEvent


def select_stage(state, options):
    """The task's criterion over every variant: size, latency (delegates whose timing means
    something), labelled metric per delegate, agreement with fp32."""
    from mobilepack.evaluate.selection import Candidate, Criterion, select

    latency = state.bench.best_latency_us()
    acc = state.accuracy
    cands = [Candidate(v.mode, v.bytes, latency.get(v.mode), acc.labelled_scores(v.mode), acc.agreement(v.mode))
             for v in state.models.variants]
    selection = select(cands, max_accuracy_drop=options.max_accuracy_drop,
                       criterion=Criterion.of_matrix(acc.document))
    selection = _name_departures(selection, state.bench.document, state.departures.document)
    state.emit(ProgressEvent("select", f"the apps ship {selection.winner}"))
    return selection


def _name_departures(selection, bench: dict, matrix: dict):
    """Each variant's reason says which delegate departs where the delegate doctor ran for it (bench's
    GPU check, the accuracy matrix's disagreement)."""
    from dataclasses import replace

    from mobilepack.report.build import departures

    found = departures(bench, matrix)
    reasons = {mode: (f"{why} (delegate doctor: {found[mode].get('explanation') or found[mode]['message']})"
                      if mode in found else why)
               for mode, why in selection.reasons.items()}
    return replace(selection, reasons=reasons)


def render_stage(state, options) -> tuple[App, ...]:
    from mobilepack.render.context import RenderInputs
    from mobilepack.render.renderer import render_into
    from mobilepack.render.sources import default_app_name, sample_images
    from mobilepack.render.targets import get as get_target

    shipped = state.models.variant(state.selection.winner)
    r = options.render
    name = r.app_name or default_app_name(shipped.spec.name)
    samples = sample_images(Path(r.samples)) if r.samples else ()
    model_bytes = shipped.path.read_bytes()
    apps = []
    for t in r.targets:
        state.emit(ProgressEvent("render", f"{t} project"))
        tgt = get_target(t)
        app_id = r.ids.get(tgt.id_key) or tgt.default_id(name)
        if tgt.writer is not None:   # the server target writes its own tree from the build
            (state.root / t).mkdir()
            record = tgt.writer(state.root / t, state, options, lambda text: state.emit(ProgressEvent("render", text)))
            files = sum(1 for p in (state.root / t).rglob("*") if p.is_file())
            apps.append(App(t, files, app_id, name, record))
            continue
        inputs = RenderInputs(spec=shipped.spec, model_bytes=model_bytes, variant=shipped.mode,
                              labels=options.metadata.labels, app_name=name, app_id=app_id, sample_images=samples)
        (state.root / t).mkdir()
        result = render_into(state.root / t, t, inputs)
        apps.append(App(t, len(result.files), app_id, name))
    return tuple(apps)


def report_stage(state, options) -> Report:
    from mobilepack.report.build import build_document, write_reports

    ledger = state.ledger
    ledger.timings["total"] = time.perf_counter() - ledger.started
    models = state.models
    document = build_document(
        out=options.out, config=options.resolved, record=models.record,
        descriptions={v.mode: v.spec.to_dict() for v in models.variants}, lint=state.lint.by_mode,
        bench=state.bench.document, accuracy=state.accuracy.document, selection=state.selection.to_dict(),
        delegate_doctor=state.departures.document,
        apps={a.target: {"files": a.files, "app_id": a.app_id, "app_name": a.app_name} for a in state.apps},
        server=next((a.record for a in state.apps if a.record is not None), None),
        timings=ledger.timings, hits=ledger.hits, tools=state.tools, compression=list(state.compressed.stages))
    write_reports(state.root / "reports", document, state.bench.document)
    return Report(document)
