"""Kernel config fragments: parsing, and checking a resolved `.config` against one.

A fragment holds `CONFIG_X=y` lines (required: must still be `=y` after `olddefconfig`),
`# CONFIG_X is not set` lines (dropped) and other assignments (strings, numbers), which
are applied but not checked. Pure functions only; no kernel tree is touched here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FRAGMENT = Path(__file__).with_name("microvm.config")

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


@dataclass(frozen=True)
class Fragment:
    """A parsed config fragment."""

    required: tuple[str, ...]  # options that must end up =y
    disabled: tuple[str, ...]  # options the fragment turns off
    values: tuple[tuple[str, str], ...]  # other assignments, e.g. CONFIG_LOCALVERSION

    @property
    def option_count(self) -> int:
        """How many options the fragment sets."""
        return len(self.required) + len(self.disabled) + len(self.values)


@dataclass(frozen=True)
class ConfigCheck:
    """The outcome of checking a `.config` against a fragment."""

    dropped: tuple[str, ...]  # required but not =y (with what they became)
    still_enabled: tuple[str, ...]  # disabled by the fragment but still set
    modules: tuple[str, ...]  # options built as modules (=m)

    @property
    def ok(self) -> bool:
        """True when every required option is =y and nothing is a module."""
        return not self.dropped and not self.modules


def parse_fragment(text: str) -> Fragment:
    """Parse fragment text; raises ValueError naming the line that is not a config line."""
    required: list[str] = []
    disabled: list[str] = []
    values: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if unset := _UNSET.match(line):
            disabled.append(unset[1])
        elif assign := _SET.match(line):
            if assign[2] == "y":
                required.append(assign[1])
            elif assign[2] in ("n", "m"):
                raise ValueError(f"line {number}: {line!r}: use '# X is not set' or '=y' only")
            else:
                values.append((assign[1], assign[2]))
        elif line and not line.startswith("#"):
            raise ValueError(f"line {number}: {line!r} is not a kernel config line")
    _no_duplicates(required + disabled + [name for name, _ in values])
    return Fragment(tuple(required), tuple(disabled), tuple(values))


def _no_duplicates(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{name} is set more than once in the fragment")
        seen.add(name)


def parse_config(text: str) -> dict[str, str]:
    """A `.config` as {option: value}; options that are 'not set' are absent."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        if match := _SET.match(line.strip()):
            result[match[1]] = match[2]
    return result


def check_config(fragment: Fragment, config: dict[str, str]) -> ConfigCheck:
    """Compare a resolved `.config` with what the fragment asked for."""
    dropped = tuple(
        f"{name} ({'not set' if name not in config else '=' + config[name]})"
        for name in fragment.required
        if config.get(name) != "y"
    )
    still = tuple(name for name in fragment.disabled if config.get(name) in ("y", "m"))
    modules = tuple(name for name, value in config.items() if value == "m")
    return ConfigCheck(dropped, still, modules)


def fragment_text() -> str:
    """The fragment shipped with Atelier."""
    return FRAGMENT.read_text()
