"""network drivers."""

__all__: list[str] = []
