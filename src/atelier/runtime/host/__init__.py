"""Host plumbing shared by every driver: processes, resource names, detection."""

__all__: list[str] = []
