"""The `registry` section and its resolution against the data dir and the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from atelier.runtime.registry.config import RegistryConfig, resolve


def test_defaults_live_in_the_data_dir_and_use_the_image_uplinks() -> None:
    s = resolve(
        RegistryConfig(),
        data_dir=Path("/var/lib/atelier"),
        npm_registry="https://registry.npmjs.org",
        pypi_index="https://pypi.org/simple",
    )
    assert s.root == Path("/var/lib/atelier/registry")
    assert s.listen == ("127.0.0.1",)
    assert s.npm_uplink == "https://registry.npmjs.org/"
    assert s.pypi_uplink == "https://pypi.org/simple/"
    assert s.ports == (4873, 4874) and not s.enabled


def test_bridge_address_is_added_to_listen() -> None:
    s = resolve(
        RegistryConfig(mode="service", npm_uplink="http://mirror.test/npm"),
        data_dir=Path("/d"), npm_registry="x", pypi_index="y", guest_host="172.16.0.1",
    )  # fmt: skip
    assert s.listen == ("127.0.0.1", "172.16.0.1")
    assert s.npm_uplink == "http://mirror.test/npm/"
    assert s.with_root(Path("/stage")).root == Path("/stage/d/registry")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"npm_port": 5000, "pypi_port": 5000}, "both 5000"),
        ({"npm_uplink": "ftp://x"}, "must be an http"),
        ({"max_age_days": 0}, "greater than or equal"),
    ],
)
def test_bad_values_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RegistryConfig(**values)
