"""Step actions that install pinned files from the registries, and opt-in vendor downloads.

`FromNpm` and `FromPypi` download one pinned registry file on the host (verified against its
digest, cached in the build's download cache) and unpack chosen members into the tree: this
is how the Node 22 binary arrives before any `npm` exists in the image, and how single-binary
tools shipped in wheels (uv, kubectl) are installed without pip. `VendorArchive` does the
same for a tool whose only source is its vendor's site, but only when the build argument
naming its URL is given; otherwise it writes a note in the image saying the tool was left
out and how to get it, so the gap is never silent.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from atelier.runtime.images import fetch, unpack
from atelier.runtime.images.fetch import NpmPin, PypiPin
from atelier.runtime.images.steps import MakeDirs, StepContext, WriteFile

ABSENT_DIR = "/usr/local/share/atelier/absent"


@dataclass(frozen=True)
class Unpack:
    """Copy `member` of an archive to `dest` in the tree (see `unpack.unpack`)."""

    member: str  # "dir/file", "dir/" (a whole directory) or "outer.zip!inner/file"
    dest: str
    mode: int | None = None  # for a file: override the archive's permission bits

    def fingerprint(self) -> str:
        """The entry's contribution to its action's fingerprint."""
        mode = f"{self.mode:o}" if self.mode is not None else ""
        return f"{self.member}>{self.dest}:{mode}"


@dataclass(frozen=True)
class Link:
    """A symlink `path` -> `target` made after unpacking."""

    path: str
    target: str


async def _place(ctx: StepContext, archive: Path, entries: tuple[Unpack, ...]) -> None:
    for entry in entries:
        await asyncio.to_thread(
            unpack.unpack, archive, entry.member, entry.dest, ctx.path, entry.mode
        )


def _link(ctx: StepContext, links: tuple[Link, ...]) -> None:
    for link in links:
        path = ctx.path(link.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.symlink_to(link.target)


def _cache(ctx: StepContext) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    if ctx.downloads is not None:
        return ctx.downloads, None
    scratch = tempfile.TemporaryDirectory(prefix="atelier-downloads-")
    return Path(scratch.name), scratch


@dataclass(frozen=True)
class FromNpm:
    """Unpack members of one pinned npm package tarball (members start with `package/`)."""

    pin: NpmPin
    unpack: tuple[Unpack, ...]
    links: tuple[Link, ...] = ()

    def fingerprint(self) -> str:
        """See Action."""
        pin = f"{self.pin.package}@{self.pin.version}#{self.pin.integrity}"
        parts = [e.fingerprint() for e in self.unpack] + [
            f"{x.path}->{x.target}" for x in self.links
        ]
        return "npm\0" + pin + "\0" + "\0".join(parts)

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        cache, scratch = _cache(ctx)
        try:
            archive = await fetch.fetch_npm(self.pin, ctx.npm_registry, cache)
            await _place(ctx, archive, self.unpack)
            _link(ctx, self.links)
        finally:
            if scratch is not None:
                scratch.cleanup()


@dataclass(frozen=True)
class FromPypi:
    """Unpack members of one pinned PyPI file (a wheel is a zip archive)."""

    pin: PypiPin
    unpack: tuple[Unpack, ...]
    links: tuple[Link, ...] = ()

    def fingerprint(self) -> str:
        """See Action."""
        pin = f"{self.pin.project}/{self.pin.filename}#{self.pin.sha256}"
        parts = [e.fingerprint() for e in self.unpack] + [
            f"{x.path}->{x.target}" for x in self.links
        ]
        return "pypi\0" + pin + "\0" + "\0".join(parts)

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        cache, scratch = _cache(ctx)
        try:
            archive = await fetch.fetch_pypi(self.pin, ctx.pypi_index, cache)
            await _place(ctx, archive, self.unpack)
            _link(ctx, self.links)
        finally:
            if scratch is not None:
                scratch.cleanup()


@dataclass(frozen=True)
class VendorArchive:
    """A tool from its vendor's site, installed only when build argument `url_arg` is given.

    The argument's value is an https URL or the path of an already downloaded file;
    `sha_arg` optionally names the argument holding its sha256. Without the URL the tool is
    left out and `/usr/local/share/atelier/absent/<command>` says why and how to add it.
    """

    tool: str  # what it is, for messages ("Google Cloud CLI")
    command: str  # the command it provides ("gcloud")
    url_arg: str
    sha_arg: str
    unpack: tuple[Unpack, ...]
    links: tuple[Link, ...] = ()

    def fingerprint(self) -> str:
        """See Action. The argument values are hashed by `recipe_hash`."""
        parts = [e.fingerprint() for e in self.unpack] + [
            f"{x.path}->{x.target}" for x in self.links
        ]
        head = f"{self.tool}\0{self.command}\0{self.url_arg}\0{self.sha_arg}"
        return "vendor\0" + head + "\0" + "\0".join(parts)

    def absent_note(self) -> str:
        """The text left in the image when the tool is not installed."""
        return (
            f"{self.tool} ({self.command}) is not installed in this image: its only source is"
            f" its vendor's site, so it is an opt-in build argument. Rebuild with\n"
            f"  atelier images build <image> --arg {self.url_arg}=<URL or file>"
            f" [--arg {self.sha_arg}=<sha256>]\n"
            f"on a host that can reach the vendor (see docs/images.md).\n"
        )

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        url = ctx.args.get(self.url_arg, "")
        if not url:
            ctx.events.note(f"{self.command}: left out (opt-in build argument {self.url_arg})")
            await MakeDirs((ABSENT_DIR,)).apply(ctx)
            await WriteFile(f"{ABSENT_DIR}/{self.command}", self.absent_note()).apply(ctx)
            return
        cache, scratch = _cache(ctx)
        try:
            archive = await fetch.fetch_url(url, cache / "vendor", ctx.args.get(self.sha_arg))
            await _place(ctx, archive, self.unpack)
            _link(ctx, self.links)
        finally:
            if scratch is not None:
                scratch.cleanup()
