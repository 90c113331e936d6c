"""Proxy route ids: built from sandbox ids and dev names, parsed back, static ids apart."""

from __future__ import annotations

import pytest

from atelier.runtime.host import names


@pytest.mark.parametrize("kind", ["code", "opencode", "browser"])
def test_platform_route_round_trip(kind: names.RouteKind) -> None:
    ident = names.new_id()
    route = names.route_id(kind, ident)
    assert route == f"atl-rt-{kind}-{ident}"
    assert names.parse_route_id(route) == names.RouteName(kind, ident)


@pytest.mark.parametrize("dev", ["web", "my-app", "a", "x" * 32, "api2", "9lives"])
def test_dev_route_round_trip(dev: str) -> None:
    ident = names.new_id()
    route = names.route_id("dev", ident, dev)
    assert route == f"atl-rt-dev-{dev}-{ident}"
    assert names.parse_route_id(route) == names.RouteName("dev", ident, dev)


@pytest.mark.parametrize("dev", ["", "-web", "web-", "Web", "web_app", "x" * 33, "a.b"])
def test_bad_dev_names_are_refused(dev: str) -> None:
    with pytest.raises(ValueError, match="dev command name"):
        names.route_id("dev", names.new_id(), dev)


def test_route_id_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="not an Atelier id"):
        names.route_id("code", "UPPER123")
    with pytest.raises(ValueError, match="needs the dev command"):
        names.route_id("dev", names.new_id())
    with pytest.raises(ValueError, match="only dev routes"):
        names.route_id("code", names.new_id(), "web")


@pytest.mark.parametrize(
    "name",
    [
        names.ROUTE_DASHBOARD,
        names.ROUTE_FALLBACK,
        "atl-rt-code-short",
        "app-1",
        "atl-rt-x-abcdefgh",
    ],
)
def test_other_ids_do_not_parse(name: str) -> None:
    assert names.parse_route_id(name) is None
