"""Finding, listing and removing built images."""

from __future__ import annotations

import pytest

from atelier.config import AtelierConfig
from atelier.errors import ValidationError
from atelier.runtime.images import catalog
from atelier.runtime.images.errors import ImageNotFound
from tests.unit.runtime.images.factories import built_image


def test_find_image(config: AtelierConfig) -> None:
    directory = built_image(config)
    found = catalog.find_image(config, "minimal")
    assert found.path == directory / "rootfs.ext4"
    assert found.manifest.recommended_memory_mb == 512
    assert found.directory == directory


def test_missing_image_names_what_is_built(config: AtelierConfig) -> None:
    built_image(config, "other")
    with pytest.raises(ImageNotFound, match="built: other") as info:
        catalog.find_image(config, "minimal")
    assert info.value.hint == "build it with `atelier images build minimal`"


def test_list_skips_incomplete_and_hidden_dirs(config: AtelierConfig) -> None:
    built_image(config, "b")
    built_image(config, "a")
    (config.paths.images / "half").mkdir()
    (config.paths.images / ".tmp-x-1").mkdir()
    broken = config.paths.images / "broken"
    broken.mkdir()
    (broken / "rootfs.ext4").write_bytes(b"")
    (broken / "manifest.json").write_text("{not json")
    assert [image.name for image in catalog.list_images(config)] == ["a", "b"]


def test_list_without_images_dir(config: AtelierConfig) -> None:
    assert catalog.list_images(config) == []


def test_remove(config: AtelierConfig) -> None:
    directory = built_image(config)
    catalog.remove_image(config, "minimal")
    assert not directory.exists()
    with pytest.raises(ImageNotFound):
        catalog.remove_image(config, "minimal")


@pytest.mark.parametrize("name", ["kernels", "UPPER", "a/b", "-x", ""])
def test_invalid_names(config: AtelierConfig, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        catalog.find_image(config, name)
    assert info.value.field == "name"
