"""The build report's Server section: the load-test grid of ``--target server`` (server.json) as a
table and a chart of throughput against p99 latency."""

from __future__ import annotations

from typing import Any

from mobilepack.report.charts import _pyplot, _svg


def label(row: dict[str, Any]) -> str:
    return f"{row['variant']} b≤{row['max_batch_size']} r{row['replicas']} c{row['concurrency']}"


def server_chart(rows: list[dict[str, Any]], p99_ms: float, chosen: dict[str, Any] | None) -> str:
    """Samples/s against p99 latency per grid cell, one colour per variant; the budget as a line and
    the chosen cell ringed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, variant in enumerate(dict.fromkeys(r["variant"] for r in rows)):
        mine = [r for r in rows if r["variant"] == variant]
        ax.scatter([r["p99_ms"] for r in mine], [r["samples_per_s"] for r in mine], label=variant,
                   color=f"C{i}", s=28)
    if chosen:
        win = next((r for r in rows if r["variant"] == chosen["variant"] and r["replicas"] == chosen["num_replicas"]
                    and r["max_batch_size"] == chosen["max_batch_size"]
                    and r["concurrency"] == chosen["at_concurrency"]), None)
        if win:
            ax.scatter([win["p99_ms"]], [win["samples_per_s"]], s=160, facecolors="none", edgecolors="black",
                       label="chosen")
    ax.axvline(p99_ms, color="#c44e52", linestyle="--", linewidth=1, label=f"p99 budget {p99_ms:g} ms")
    ax.set_xlabel("p99 latency, ms")
    ax.set_ylabel("samples/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)


def view(server: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the templates read, or ``None`` when the build had no server target."""
    if not server or not server.get("grid"):
        return None
    spec = server["grid_spec"]
    return {"record": server, "rows": [{**r, "label": label(r)} for r in server["grid"]],
            "choice": server["choice"], "batching": server["batching"], "spec": spec,
            "svg": server_chart(server["grid"], spec["p99_ms"], server["choice"])}
