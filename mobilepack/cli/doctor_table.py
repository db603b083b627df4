"""Printing the quantization doctor's record (``convert --doctor``, ``inspect --doctor``)."""

from __future__ import annotations

from typing import Any


def print_doctor(console, doctor: dict[str, Any], *, top: int = 10) -> None:
    from rich.table import Table

    from mobilepack.report.doctor_view import layer_label

    floats = set((doctor.get("mixed") or {}).get("float_ops") or [])
    table = Table(title=f"quantization doctor: int8 error per layer (RMSE/scale; rounding alone ≈ 0.289)",
                  title_justify="left")
    for col, just in (("rank", "right"), ("op", "left"), ("layer", "left"), ("RMSE/scale", "right"),
                      ("max abs err", "right"), ("int8-mixed", "left")):
        table.add_column(col, justify=just)
    for layer in doctor["layers"][:top]:
        table.add_row(str(layer["rank"]), layer["op"], layer_label(layer["tensor"]),
                      f"{layer['rmse_over_scale']:.3f}", f"{layer['max_abs_error']:.3g}",
                      "[bold]float[/]" if layer["tensor"] in floats else "int8")
    console.print(table)
    if len(doctor["layers"]) > top:
        console.print(f"  … {len(doctor['layers']) - top} more layer(s) in convert.json")
    for cost in doctor.get("float_ops", []):
        what = ("cost not measured (time limit)" if cost["bytes"] is None else
                f"{cost['bytes']:+d} bytes, {cost['latency_us']:+.2f} µs, {doctor['budget']['metric']} "
                f"{cost['score_gain']:+.4f}")
        console.print(f"  kept in float: {cost['op']} {layer_label(cost['tensor'])}: {what}")
    console.print(f"  {doctor['summary']}  (search {doctor['search']['seconds']:.1f} s)")


def print_layer_errors(console, record: dict[str, Any], *, top: int = 15) -> None:
    """``inspect --against``: the ranked tensor comparison of a quantized and a float .tflite."""
    from rich.table import Table

    from mobilepack.report.doctor_view import layer_label

    table = Table(title=f"error per quantized layer vs {record['against']} ({record['samples']} samples of "
                        f"{record['data']}; RMSE/scale, rounding alone ≈ 0.289)", title_justify="left")
    for col, just in (("rank", "right"), ("op", "left"), ("layer", "left"), ("RMSE/scale", "right"),
                      ("added", "right"), ("max abs err", "right")):
        table.add_column(col, justify=just)
    for layer in record["layers"][:top]:
        table.add_row(str(layer["rank"]), layer["op"], layer_label(layer["tensor"]),
                      f"{layer['rmse_over_scale']:.3f}", f"{layer['added']:.3f}", f"{layer['max_abs_error']:.3g}")
    console.print(table)
    if record["data"] == "random":
        console.print("  [yellow]random inputs:[/] pass --data with real samples for errors that mean something")
