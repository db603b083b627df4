"""Naming the delegate that really departs when bench's software-GPU check fails.

The functional check compares the GPU's outputs with the reference CPU kernels'.  When they differ,
either may be wrong: the delegate doctor (:mod:`mobilepack.runtime.departure`) compares the
delegates op by op on the same inputs (the bench's pattern) and names the first op at which one
departs.  A GPU that agrees with XNNPACK while the reference kernels depart is no failure: its
record is measured (``ok``) and says who departs; the departing delegate's own records carry the
diagnosis (``departure``) and a note.  A GPU that departs stays failed, with the op named."""

from __future__ import annotations

from mobilepack.runtime import delegates as registry

VOTERS = ("cpu", "xnnpack")   # delegates added to the comparison, so a majority can say who departs


def doctor_delegates(plan_delegates) -> list:
    """The plan's host delegates plus :data:`VOTERS`, in registry order."""
    chosen = {d.name: d for d in plan_delegates if d.host}
    for name in VOTERS:
        if name in registry.names():
            chosen.setdefault(name, registry.get(name))
    order = registry.names()
    return sorted(chosen.values(), key=lambda d: order.index(d.name) if d.name in order else len(order))


def explain_numerics(records: list[dict], plan_delegates, *, timeout: float = 120.0, progress=None) -> None:
    """Run the doctor for every model whose functional GPU check failed on numerics; rewrite the
    records in place (module docstring)."""
    from mobilepack.runtime.departure import diagnose

    for rec in records:
        if rec.get("failure") != "numerics" or not rec["model"].get("path"):
            continue
        if progress:
            progress(f"delegate doctor on {rec['model'].get('file')}")
        diag = diagnose(rec["model"]["path"], doctor_delegates(plan_delegates), timeout=timeout).to_dict()
        apply_diagnosis(records, rec, diag)


def apply_diagnosis(records: list[dict], checked: dict, diag: dict) -> None:
    dep = diag.get("departure")
    checked["departure"] = diag
    culprit = dep.get("delegate") if dep else None
    if culprit is None or culprit == checked["delegate"]:
        check = (checked.get("numerics") or {}).get("message")
        checked["error"] = f"{diag['message']}" + (f" (functional check: {check})" if check else "")
        return
    checked.update({"status": "ok", "failure": None, "error": None})
    checked["note"] = "; ".join(filter(None, (checked.get("note"), f"not the GPU: {dep['message']}")))
    for rec in records:
        if rec["delegate"] == culprit and rec["model"].get("path") == checked["model"].get("path"):
            rec["departure"] = diag
            rec["note"] = "; ".join(filter(None, (rec.get("note"), f"departs: {dep['message']}")))
