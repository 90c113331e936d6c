"""Request and response models of the API."""

__all__: list[str] = []
