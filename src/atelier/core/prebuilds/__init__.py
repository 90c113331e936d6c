"""Prebuilds: a workspace's expensive setup run once, kept as disk and memory snapshots."""

from atelier.core.prebuilds.builder import BuildPlan, BuildResult, PrebuildBuilder
from atelier.core.prebuilds.service import PrebuildService
from atelier.core.prebuilds.staleness import Staleness
from atelier.core.prebuilds.views import PrebuildView, WorkspacePrebuild

__all__ = [
    "BuildPlan",
    "BuildResult",
    "PrebuildBuilder",
    "PrebuildService",
    "PrebuildView",
    "Staleness",
    "WorkspacePrebuild",
]
