"""Errors of the package caches.

HostError
└── RegistryError               a cache could not be installed, configured or started
    └── RegistryNotInstalled    the cache's programs are missing (run `atelier init`)
"""

from __future__ import annotations

from atelier.errors import HostError


class RegistryError(HostError):
    """A package cache could not be installed, configured or started."""

    code = "registry_error"


class RegistryNotInstalled(RegistryError):
    """The cache's programs are not installed in the registry directory."""

    code = "registry_not_installed"
