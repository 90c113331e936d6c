"""Repositories: the only code that issues SQL, one module per aggregate."""

__all__: list[str] = []
