"""Merging credentials files: newest OAuth expiry wins, removals propagate, no baseline no removal."""

from __future__ import annotations

from atelier.core import authmerge as m


def oauth(expires: int, token: str = "t") -> m.Entry:
    return {"type": "oauth", "access": token, "refresh": "r", "expires": expires}


def api(key: str) -> m.Entry:
    return {"type": "api", "key": key}


def stored(**entries: m.Entry | None) -> dict[str, m.Stored]:
    return {k: m.Stored.of(k, v) for k, v in entries.items()}


def test_new_entries_are_taken_without_a_baseline() -> None:
    changes = m.merge({}, None, {"anthropic": oauth(10), "openai": api("k1")})
    assert [(c.provider, c.entry) for c in changes] == [
        ("anthropic", oauth(10)),
        ("openai", api("k1")),
    ]


def test_the_newest_oauth_expiry_wins() -> None:
    current = stored(anthropic=oauth(100, "new"))
    assert m.merge(current, None, {"anthropic": oauth(50, "old")}) == []
    assert m.merge(current, None, {"anthropic": oauth(100, "same-time")}) == []
    newer = m.merge(current, None, {"anthropic": oauth(200, "refreshed")})
    assert newer == [m.Change("anthropic", oauth(200, "refreshed"))]


def test_a_changed_api_key_is_taken_and_an_unchanged_one_ignored() -> None:
    current = stored(openai=api("k1"))
    baseline = m.fingerprints({"openai": api("k1")})
    assert m.merge(current, baseline, {"openai": api("k1")}) == []
    assert m.merge(current, baseline, {"openai": api("k2")}) == [m.Change("openai", api("k2"))]


def test_removal_needs_a_baseline_and_becomes_a_tombstone() -> None:
    current = stored(openai=api("k1"), anthropic=oauth(5))
    assert m.merge(current, None, {"anthropic": oauth(5)}) == []  # first look: no removal
    baseline = m.fingerprints({"openai": api("k1"), "anthropic": oauth(5)})
    changes = m.merge(current, baseline, {"anthropic": oauth(5)})
    assert changes == [m.Change("openai", None)]
    after = m.apply(current, changes)
    assert m.desired(after) == {"anthropic": oauth(5)}
    assert after["openai"].entry is None


def test_a_stale_copy_does_not_resurrect_a_removed_key() -> None:
    # Sandbox B still holds the key it had when it was last pushed: unchanged there.
    current = stored(openai=None)
    baseline = m.fingerprints({"openai": api("k1")})
    assert m.merge(current, baseline, {"openai": api("k1")}) == []
    # Logging in again there (a new key) brings it back.
    assert m.merge(current, baseline, {"openai": api("k9")}) == [m.Change("openai", api("k9"))]


def test_file_parsing_and_rendering() -> None:
    assert m.parse_file(b"") == {}
    assert m.parse_file(b"not json") is None
    assert m.parse_file(b"[]") is None
    assert m.parse_file(b'{"a": {"type": "api", "key": "x"}, "b": 3}') == {"a": api("x")}
    text = m.render({"b": api("2"), "a": api("1")})
    assert m.parse_file(text) == {"a": api("1"), "b": api("2")}
    assert m.without({"a": api("1"), "b": api("2")}, {"a"}) == {"b": api("2")}
