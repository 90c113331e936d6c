"""images drivers."""

__all__: list[str] = []
