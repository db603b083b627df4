"""``mobilepack inspect MODEL --delegates cpu,xnnpack,gpu [--data D]``: the delegate doctor on one file
(:mod:`mobilepack.runtime.departure`), its inputs and its terminal view."""

from __future__ import annotations

from pathlib import Path


def parse_delegates(text: str) -> list:
    """``"cpu,xnnpack,gpu"`` -> registry delegates that run on this machine (at least two)."""
    from mobilepack.errors import UsageError
    from mobilepack.runtime import delegates as registry

    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    chosen = [registry.get(n) for n in names]
    for d in chosen:
        if not d.host:
            raise UsageError(f"delegate {d.name!r} runs only on phones", "the delegate doctor runs on this machine")
    if len(chosen) < 2:
        raise UsageError(f"--delegates {text!r} names {len(chosen)} delegate(s); the doctor compares at least two",
                         "e.g. --delegates cpu,xnnpack,gpu")
    return chosen


def doctor_file(model: str | Path, delegates: str, data: str | None = None, progress=None) -> dict:
    """The doctor's JSON for ``model`` on ``delegates``, inputs from ``data`` (first sample; default:
    the bench's input pattern, the inputs bench's GPU check compares on)."""
    from mobilepack.errors import InputError
    from mobilepack.runtime.departure import default_feeds, diagnose, feeds_from_batch

    chosen = parse_delegates(delegates)
    raw = Path(model).read_bytes()
    feeds = default_feeds(raw)
    if data is not None:
        from mobilepack.data.readers import read_samples
        from mobilepack.model.loading import load

        if not Path(data).exists():
            raise InputError(f"--data not found: {data}", "pass a folder of images, a .npy or a .npz file")
        batch = read_samples(data, load(str(model)).spec, limit=1, what="inspect").batches[0]
        feeds = feeds_from_batch(raw, batch)
    result = diagnose(model, chosen, feeds=feeds, progress=progress).to_dict()
    result["data"] = data or "pattern"
    return result


def print_doctor(console, d: dict) -> None:
    from rich.markup import escape

    console.print(f"\n[bold]delegate doctor[/] ({', '.join(d['delegates']) or 'no delegate ran'}; "
                  f"inputs: {escape(d['data'])}; {d['probes']} op(s) compared in {d['seconds']:.1f} s)")
    dep = d["departure"]
    style = "bold red" if dep and dep["delegate"] else ("yellow" if dep else "green")
    console.print(f"  [{style}]{escape(d['message'])}[/]")
    if dep:
        op = dep["op"]
        console.print(f"  op {op['index']} {op['type']}: inputs {op['input_shapes']}, outputs {op['output_shapes']}; "
                      f"relative difference {format(dep['relative'], '.3g') if dep['relative'] is not None else 'inf'}")
    console.print(f"  [dim]method: {escape(d['method'])}[/]")
    for name, why in d["skipped"].items():
        console.print(f"  [yellow]{escape(name)} took no part: {escape(why)}[/]")
