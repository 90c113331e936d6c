"""The dashboard: server-rendered pages served by the manager."""

__all__: list[str] = []
