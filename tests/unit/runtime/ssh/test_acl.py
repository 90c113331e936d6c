"""Access decisions: owner and members only, running only, no existence leaks."""

from __future__ import annotations

import pytest

from atelier.runtime.ssh.acl import (
    Allowed,
    Refused,
    SandboxRef,
    decide,
    plausible_ref,
    shown,
)

SBX = SandboxRef("abcdefgh", "owner", frozenset({"member"}), "running", name="web")


@pytest.mark.parametrize("user", ["owner", "member"])
def test_owner_and_members_get_in(user: str) -> None:
    assert decide(user, "abcdefgh", SBX) == Allowed("abcdefgh")


def test_strangers_see_the_same_words_as_for_a_missing_sandbox() -> None:
    stranger = decide("stranger", "abcdefgh", SBX)
    missing = decide("owner", "abcdefgh", None)
    assert isinstance(stranger, Refused) and isinstance(missing, Refused)
    assert stranger == missing
    assert stranger.message == "no sandbox abcdefgh (list yours with `atelier sandbox list`)"
    assert stranger.sandbox_id is None


def test_stopped_offers_the_start_command() -> None:
    from dataclasses import replace

    decision = decide("member", "web", replace(SBX, status="stopped"))
    assert decision == Refused(
        "stopped",
        "sandbox abcdefgh is stopped; start it with `atelier sandbox start abcdefgh`",
        "abcdefgh",
    )
    hidden = decide("stranger", "web", replace(SBX, status="stopped"))
    assert isinstance(hidden, Refused) and hidden.reason == "unknown"


@pytest.mark.parametrize("status", ["queued", "creating", "starting", "paused", "error"])
def test_other_states_name_the_state(status: str) -> None:
    from dataclasses import replace

    decision = decide("owner", "abcdefgh", replace(SBX, status=status))
    assert isinstance(decision, Refused) and decision.reason == "not_running"
    assert f"is {status}; SSH works once it is running" in decision.message


def test_client_text_is_made_printable() -> None:
    assert shown("evil\x1b[2Jname") == "evil?[2Jname"
    assert shown("") == "''"
    assert len(shown("x" * 500)) == 64
    assert plausible_ref("abcdefgh") and plausible_ref("my-web.app_2")
    assert not plausible_ref("") and not plausible_ref("../x") and not plausible_ref("a" * 65)
