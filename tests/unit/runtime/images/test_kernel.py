"""Installed kernels and which one `resolve_kernel` picks (no builds, no downloads)."""

from __future__ import annotations

import pytest

from atelier.config import AtelierConfig
from atelier.runtime.images import kernel, kernelstore
from atelier.runtime.images.config import ImagesConfig
from atelier.runtime.images.errors import KernelNotFound
from tests.unit.runtime.images.factories import installed_kernel, staged_kernel


def _with_mode(config: AtelierConfig, mode: str) -> AtelierConfig:
    return AtelierConfig(paths=config.paths, images=ImagesConfig(kernel=mode))


def test_install_links_and_points_at_current(config: AtelierConfig) -> None:
    artifact = installed_kernel(config)
    root = config.paths.images / "kernels"
    assert (root / "custom").is_symlink()
    assert artifact.vmlinux == (root / "custom").resolve() / "vmlinux"
    assert artifact.directory.name == f"custom-6.1.192-atelier-{'ab' * 6}"
    assert kernel.find_kernel(config, "custom") == artifact
    assert kernel.find_kernel(config, "cloud") is None
    again = installed_kernel(config)
    assert again == artifact


def test_cloud_kernel_keeps_its_modules(config: AtelierConfig) -> None:
    artifact = installed_kernel(config, "cloud")
    assert artifact.modules_dir is not None
    assert (artifact.modules_dir / "modules.dep").is_file()
    assert artifact.modules_dir.is_relative_to(artifact.directory)


def test_manifest_round_trip(config: AtelierConfig) -> None:
    artifact = installed_kernel(config, "cloud")
    loaded = kernelstore.load(artifact.directory)
    assert loaded == artifact
    described = artifact.describe()
    assert described["vmlinux"] == str(artifact.vmlinux)
    assert described["pvh_entry"] == "0x1000850"


def test_list_marks_newest_first(config: AtelierConfig) -> None:
    installed_kernel(config, "custom")
    installed_kernel(config, "cloud")
    flavours = sorted(k.flavour for k in kernel.list_kernels(config))
    assert flavours == ["cloud", "custom"]


def test_a_directory_without_vmlinux_is_not_a_kernel(config: AtelierConfig) -> None:
    artifact = installed_kernel(config)
    artifact.vmlinux.unlink()
    assert kernel.find_kernel(config, "custom") is None
    assert kernel.list_kernels(config) == []


async def test_resolve_auto_prefers_custom(config: AtelierConfig) -> None:
    installed_kernel(config, "cloud")
    custom = installed_kernel(config, "custom")
    assert await kernel.resolve_kernel(_with_mode(config, "auto")) == custom


async def test_resolve_auto_falls_back_to_installed_cloud(config: AtelierConfig) -> None:
    cloud = installed_kernel(config, "cloud")
    assert await kernel.resolve_kernel(_with_mode(config, "auto")) == cloud


async def test_resolve_cloud_ignores_custom(config: AtelierConfig) -> None:
    installed_kernel(config, "custom")
    cloud = installed_kernel(config, "cloud")
    assert await kernel.resolve_kernel(_with_mode(config, "cloud")) == cloud


async def test_resolve_custom_without_a_build(config: AtelierConfig) -> None:
    installed_kernel(config, "cloud")
    with pytest.raises(KernelNotFound) as info:
        await kernel.resolve_kernel(_with_mode(config, "custom"))
    assert info.value.field == "images.kernel"
    assert "atelier images kernel build" in (info.value.hint or "")


def test_staged_kernel_from_cache_is_reused_by_load(config: AtelierConfig) -> None:
    staged = staged_kernel(config.paths.cache_dir / "x")
    assert kernelstore.load(staged.directory) is None  # no manifest in a bare dir
