"""Merging OpenCode's credentials file (`auth.json`) across one user's sandboxes (pure).

The file maps a provider key to an entry: `{"type": "oauth", "refresh", "access",
"expires"}`, `{"type": "api", "key"}` or `{"type": "wellknown", "key", "token"}`. The
stored set is the truth; an observation of one sandbox's file is compared with what that
sandbox held before (its *baseline*, as fingerprints), so only what changed there counts:

- a new or changed entry is taken, except an OAuth entry whose `expires` is not later
  than the stored one's (the newest expiry wins, so a stale copy never rolls back a
  refresh); other entries are taken as changed (the latest change wins);
- an entry that disappeared from the sandbox is a removal (the user logged out there),
  stored as a tombstone and removed from the user's other sandboxes;
- without a baseline (the first look at a sandbox) nothing counts as removed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Entry = dict[str, Any]


def fingerprint(entry: Mapping[str, Any]) -> str:
    """A stable digest of an entry (stored instead of the secret to detect changes)."""
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def expires_of(entry: Mapping[str, Any]) -> int | None:
    """An OAuth entry's expiry (epoch ms), None for keys that do not expire."""
    value = entry.get("expires")
    if entry.get("type") == "oauth" and isinstance(value, int | float):
        return int(value)
    return None


def kind_of(entry: Mapping[str, Any]) -> str:
    kind = entry.get("type")
    return kind if isinstance(kind, str) else "unknown"


@dataclass(frozen=True)
class Stored:
    """A provider's stored credential; `entry` None is a removal (tombstone)."""

    provider: str
    entry: Entry | None
    fingerprint: str | None = None
    expires: int | None = None

    @classmethod
    def of(cls, provider: str, entry: Entry | None) -> Stored:
        if entry is None:
            return cls(provider, None)
        return cls(provider, entry, fingerprint(entry), expires_of(entry))


@dataclass(frozen=True)
class Change:
    """What an observation changes in the stored set."""

    provider: str
    entry: Entry | None  # None: removed


def parse_file(data: bytes) -> dict[str, Entry] | None:
    """The entries of an auth.json, None when the content is not a JSON object of objects."""
    try:
        value = json.loads(data or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, dict)}


def merge(
    stored: Mapping[str, Stored],
    baseline: Mapping[str, str] | None,
    observed: Mapping[str, Entry],
) -> list[Change]:
    """The changes one sandbox's file brings, given what it held before (`baseline`)."""
    changes = []
    for provider, entry in sorted(observed.items()):
        print_ = fingerprint(entry)
        if baseline is not None and baseline.get(provider) == print_:
            continue  # unchanged in this sandbox since we last looked
        current = stored.get(provider)
        if current is not None and current.fingerprint == print_:
            continue
        if current is not None and current.entry is not None:
            new, old = expires_of(entry), current.expires
            if new is not None and old is not None and new <= old:
                continue  # an older token than the stored one
        changes.append(Change(provider, entry))
    for provider in sorted(baseline or ()):
        current = stored.get(provider)
        if provider not in observed and current is not None and current.entry is not None:
            changes.append(Change(provider, None))
    return changes


def apply(stored: Mapping[str, Stored], changes: list[Change]) -> dict[str, Stored]:
    """The stored set after `changes`."""
    result = dict(stored)
    for change in changes:
        result[change.provider] = Stored.of(change.provider, change.entry)
    return result


def desired(stored: Mapping[str, Stored]) -> dict[str, Entry]:
    """What every participating sandbox's file should hold."""
    return {k: s.entry for k, s in sorted(stored.items()) if s.entry is not None}


def render(entries: Mapping[str, Entry]) -> bytes:
    """The file's bytes (pretty JSON, like OpenCode writes it)."""
    return (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode()


def fingerprints(entries: Mapping[str, Entry]) -> dict[str, str]:
    """A sandbox's baseline: provider -> fingerprint."""
    return {k: fingerprint(v) for k, v in entries.items()}


def without(entries: Mapping[str, Entry], providers: set[str]) -> dict[str, Entry]:
    """`entries` minus the given providers (taking shared credentials out of a sandbox)."""
    return {k: v for k, v in entries.items() if k not in providers}
