"""The manager's REST API (FastAPI): thin routes over core services."""

__all__: list[str] = []
