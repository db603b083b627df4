"""Escaping filters shared by several targets.  Target-specific filters (Kotlin,
strings.xml, Gradle, Swift, plist, pbxproj) live in the target's module and are
registered through its ``Target.filters``."""

from __future__ import annotations

import json


def xml_text(value: object) -> str:
    """Text content of an XML element (also valid inside double-quoted attributes)."""
    s = str(value)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&apos;")
    return "".join(ch if ch in "\t\n\r" or ord(ch) >= 0x20 else f"&#x{ord(ch):x};" for ch in s)


def json_literal(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def c_like_float(value: float) -> str:
    """A float literal that Kotlin, Swift, Java and C accept (``1.0f`` suffixes are the caller's)."""
    text = repr(float(value))
    if "inf" in text or "nan" in text:
        raise ValueError(f"cannot write {value!r} as a source literal")
    return text if ("." in text or "e" in text) else text + ".0"


SHARED_FILTERS = {"xml_text": xml_text, "json_literal": json_literal, "float_literal": c_like_float}
