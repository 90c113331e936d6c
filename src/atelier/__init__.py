"""Atelier: self-hosted microVM development sandboxes."""

__all__ = ["__version__"]

__version__ = "0.1.0"
