"""agent drivers."""

__all__: list[str] = []
