"""The records the front door (service.py) takes and gives: a request to import files, a workspace's status."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recsys.data import ImportConfig, ImportReport
from recsys.jobs import JobStatus
from recsys.versions import ModelVersion


@dataclass(frozen=True)
class ImportRequest:
    """Files to import (paths) and how to read them."""

    interactions: str | Path
    items: str | Path
    tags: str | Path | None = None
    config: ImportConfig = field(default_factory=ImportConfig)


@dataclass(frozen=True)
class WorkspaceStatus:
    workspace: str
    data: ImportReport | None
    versions: tuple[ModelVersion, ...]
    active: str | None
    feedback: int
    job: JobStatus

    def to_dict(self) -> dict:
        job = {k: v for k, v in self.job.to_dict().items() if k not in ("losses", "validations")}
        models = [{"version": v.name, "active": v.active, "kind": v.kind, "activation": v.metrics.extra.get("activation"),
                   "validation_ndcg@10": v.metrics.validation_ndcg} for v in self.versions]
        return {"workspace": self.workspace, "data": self.data.to_dict() if self.data else None, "models": models,
                "active": self.active, "feedback": self.feedback, "job": job}
