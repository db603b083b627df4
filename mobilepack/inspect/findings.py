"""One finding of ``inspect``'s checks (a leaf: ``lint`` makes findings, ``report`` collects them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str          # "error" | "warning" | "info"
    title: str
    explanation: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity, "title": self.title, "explanation": self.explanation,
                "fix": self.fix}
