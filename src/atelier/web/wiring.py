"""The dashboard's data sources for a full manager: adapters over the core services.

A source stays None (its page says "not available on this manager yet") when the
subsystem behind it is not part of this manager.
"""

from __future__ import annotations

from atelier.core.manager import Manager
from atelier.web.sources import Sources
from atelier.web.sources.tasks import task_sources
from atelier.web.sources.workspaces import workspace_sources


def dashboard_sources(manager: Manager) -> Sources:
    """Sources for every subsystem `manager` runs."""
    return Sources(**task_sources(manager), **workspace_sources(manager))
