"""Core services: lifecycle, spawn pipeline, queue, workspaces, tasks, events."""

__all__: list[str] = []
