"""Label files: one label per line, UTF-8, kept byte-exact (quotes, commas, any script)."""

from __future__ import annotations

from pathlib import Path

from mobilepack.errors import InputError, UsageError


def split_labels(text: str) -> tuple[str, ...]:
    """Lines of ``text`` (``\\n`` or ``\\r\\n``); a final newline does not add a label."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return tuple(line[:-1] if line.endswith("\r") else line for line in lines)


def read_labels(path: str | Path) -> tuple[str, ...]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"labels file not found: {p}", "pass a text file with one label per line")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"labels file {p} is not UTF-8 (byte {exc.start})", "re-save it as UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    labels = split_labels(text)
    check_labels(labels, source=str(p))
    return labels


def check_labels(labels, *, source: str = "labels") -> tuple[str, ...]:
    labels = tuple(labels)
    if not labels:
        raise InputError(f"{source} holds no labels", "write one label per line")
    for i, label in enumerate(labels, start=1):
        if not isinstance(label, str):
            raise UsageError(f"label {i} in {source} is not a string", "pass labels as strings")
        if "\n" in label or "\r" in label:
            raise InputError(f"label {i} in {source} contains a line break", "a label file holds one label per line")
        if label.strip() == "":
            raise InputError(f"label {i} in {source} is empty", "remove blank lines from the labels file")
    return labels


def labels_file_bytes(labels: tuple[str, ...]) -> bytes:
    """What is packed into the model: each label's UTF-8 bytes, newline-terminated."""
    return "".join(f"{label}\n" for label in labels).encode("utf-8")


def check_count(labels: tuple[str, ...], classes: int | None, *, tensor: str) -> None:
    if classes is not None and classes > 0 and len(labels) != classes:
        raise InputError(f"{len(labels)} labels but output {tensor!r} has {classes} classes",
                         f"give exactly {classes} labels, one per line, in class-index order")
