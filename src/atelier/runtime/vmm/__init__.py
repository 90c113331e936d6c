"""vmm drivers."""

__all__: list[str] = []
