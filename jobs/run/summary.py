"""What a run did: `RunSummary`, filled by the pipeline and the delivery loop."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunSummary:
    """What a run did; `line()` is the one summary line each run ends with."""

    run_id: int | None = None
    outcome: str = "ok"
    watches: int = 0
    hits: int = 0
    new_articles: int = 0
    new_citations: int = 0
    corrections: int = 0
    sent: int = 0  # e-mail digests delivered
    failed: int = 0  # e-mail digests not delivered
    requests: int = 0
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"run {self.run_id}: {self.outcome}; watches={self.watches} hits={self.hits} "
            f"new_articles={self.new_articles} new_citations={self.new_citations} "
            f"corrections={self.corrections} digests_sent={self.sent} digests_failed={self.failed} "
            f"requests={self.requests} duration={self.duration:.1f}s"
        )
