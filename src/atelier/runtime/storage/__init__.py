"""storage drivers."""

__all__: list[str] = []
