"""Kernel command line parameters and the scrubbed copy guest users see."""

from __future__ import annotations

from atelier.guest.cmdline import HIDDEN, parse, scrub, split

LINE = (
    "console=ttyS0 quiet atelier.token=s3cr3t-token atelier.hostname=sandbox-ab12 "
    "atelier.ip=10.0.0.5/24 atelier.gw=10.0.0.1 atelier.dns=1.1.1.1,9.9.9.9 "
    "atelier.agent_tcp=10000 atelier.services=sshd,code-server atelier.resize=1 "
    "atelier.mac=52:54:00:12:34:56 "
    'other="a b"'
)


def test_split_honours_quotes() -> None:
    assert split('a "b c" d="e f"  g') == ["a", "b c", "d=e f", "g"]


def test_parse() -> None:
    params = parse(LINE)
    assert params.token == "s3cr3t-token" and params.hostname == "sandbox-ab12"
    assert params.network() == {
        "ip": "10.0.0.5/24", "gw": "10.0.0.1", "dns": ["1.1.1.1", "9.9.9.9"],
        "ip6": None, "gw6": None, "mac": "52:54:00:12:34:56",
    }  # fmt: skip
    assert params.agent_tcp == 10000 and params.resize and params.root == "/dev/vda"
    assert params.services == ["sshd", "code-server"]


def test_defaults_and_service_selection() -> None:
    params = parse("atelier.token=t")
    assert params.services is None  # autostart services
    assert parse("atelier.services=none").services == []
    assert parse("atelier.agent_tcp=99999").agent_tcp is None
    assert not params.resize and params.cgroups


def test_scrub_hides_the_token_only() -> None:
    text = scrub(LINE)
    assert "s3cr3t-token" not in text
    assert f"atelier.token={HIDDEN}" in text
    assert "atelier.hostname=sandbox-ab12" in text and '"other=a b"' in text
    assert text.endswith("\n")
