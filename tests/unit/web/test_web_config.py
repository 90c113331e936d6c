"""The `web` configuration section."""

from __future__ import annotations

import pydantic
import pytest

from atelier.config import AtelierConfig
from atelier.web.config import DEFAULT_PUSH_HOSTS, WebConfig


def test_defaults() -> None:
    web = AtelierConfig().web
    assert web.enabled and web.password_login
    assert not web.github_enabled
    assert web.push_hosts == list(DEFAULT_PUSH_HOSTS)


def test_github_needs_id_and_secret() -> None:
    assert WebConfig(github_client_id="x", github_client_secret="y").github_enabled
    assert not WebConfig(github_client_id="x").github_enabled


@pytest.mark.parametrize(
    "settings",
    [
        {"github_allowed_users": ["not a login"]},
        {"github_allowed_orgs": ["-bad-"]},
        {"github_url": "http://github.example"},
        {"push_subject": "admin@example.com"},
        {"session_hours": 0},
        {"unknown": 1},
    ],
)
def test_bad_values_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        WebConfig.model_validate(settings)


def test_secret_is_masked() -> None:
    config = AtelierConfig(web={"github_client_id": "id", "github_client_secret": "hush"})
    assert "hush" not in config.model_dump_json()
