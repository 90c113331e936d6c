"""Install a Firecracker + jailer release that the operator points to, checksum first.

The source is a release tarball (`firecracker-vX.Y.Z-x86_64.tgz`) or an unpacked release
directory, as a path, or a tarball URL (https; plain http only when `insecure`). The
operator vouches for one file with its sha256 (`sha256=`, or a `<file>.sha256` /
`<file>.sha256.txt` beside it): the tarball, or the directory's `SHA256SUMS`. Binaries are
then checked against the release's `SHA256SUMS` when present, run with `--version`, and only
then moved into place atomically.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from atelier.errors import CommandError, ValidationError
from atelier.runtime.host import proc
from atelier.runtime.vmm.errors import VmmError

SUMS = "SHA256SUMS"
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_SIDECARS = (".sha256", ".sha256.txt")
DOWNLOAD_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class InstalledRelease:
    """What `install_release` put where."""

    firecracker: Path
    jailer: Path
    version: str
    jailer_version: str
    sha256: str
    source: str


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_checksum(text: str) -> str:
    """The first 64-hex-digit word of `sha256sum`-style text, lowercased."""
    for word in text.split():
        if _HEX_RE.match(word.lower()):
            return word.lower()
    raise ValidationError(
        f"no sha256 found in {text[:80]!r}: expected 64 hexadecimal digits",
        field="sha256",
        hint="pass --sha256 with the release's published checksum",
    )


def release_binary(directory: Path, tool: str, machine: str | None = None) -> Path:
    """`<tool>-vX.Y.Z-<arch>` (or plain `<tool>`) in an unpacked release directory."""
    arch = machine or platform.machine()
    candidates = sorted(
        p
        for p in directory.iterdir()
        if p.is_file()
        and (p.name == tool or re.fullmatch(rf"{tool}-v\d+\.\d+\.\d+[\w.-]*-{arch}", p.name))
    )
    if not candidates:
        raise VmmError(
            f"no {tool} binary for {arch} in {directory}",
            hint=f"point --from at a Firecracker release for {arch}",
        )
    return candidates[-1]


def check_sums(directory: Path, binaries: list[Path], *, required: bool) -> None:
    """Check binaries against the release's SHA256SUMS (lines `<hex>  ./<name>`)."""
    sums_file = directory / SUMS
    if not sums_file.exists():
        if required:
            raise VmmError(f"{directory} has no {SUMS} file", hint="point --from at a release")
        return
    listed: dict[str, str] = {}
    for line in sums_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            listed[parts[1].removeprefix("*").removeprefix("./")] = parts[0].lower()
    for binary in binaries:
        expected = listed.get(binary.name)
        if expected is None:
            raise VmmError(f"{binary.name} is not listed in {sums_file}")
        if sha256_of(binary) != expected:
            raise VmmError(
                f"{binary.name} does not match its {SUMS} entry",
                hint="the release is damaged or was tampered with; download it again",
            )


def verify(path: Path, expected: str) -> str:
    """Raise VmmError unless `path` has sha256 `expected`; returns the digest."""
    actual = sha256_of(path)
    if actual != expected:
        raise VmmError(
            f"sha256 of {path.name} is {actual}, expected {expected}",
            hint="the download is damaged or not the release you meant; do not install it",
        )
    return actual


def _sidecar(path: Path) -> str | None:
    for suffix in _SIDECARS:
        beside = path.with_name(path.name + suffix)
        if beside.exists():
            return parse_checksum(beside.read_text())
    return None


def _expected(sha256: str | None, found: str | None, what: Path | str) -> str:
    if sha256 is not None:
        return parse_checksum(sha256)
    if found is not None:
        return found
    raise ValidationError(
        f"no checksum for {what}: pass --sha256 or put {Path(str(what)).name}.sha256 beside it",
        field="sha256",
        hint="copy the checksum from the release page you trust",
    )


def is_url(source: str) -> bool:
    """True for http(s) URLs, False for paths."""
    return urlparse(source).scheme in ("http", "https")


async def download(url: str, target: Path, *, sha256: str | None, insecure: bool) -> str:
    """Fetch `url` into `target`; returns the expected sha256 (given or `<url>.sha256`)."""
    scheme = urlparse(url).scheme
    if scheme != "https" and not insecure:
        raise ValidationError(
            f"--from {url} uses {scheme}; only https is allowed",
            field="from",
            hint="use an https URL, or pass --insecure (the checksum is still verified)",
        )
    timeout = httpx.Timeout(DOWNLOAD_TIMEOUT_S, connect=10.0)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            async with client.stream("GET", url) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
            found = None
            if sha256 is None:
                for suffix in _SIDECARS:
                    answer = await client.get(url + suffix)
                    if answer.status_code == 200:
                        found = parse_checksum(answer.text)
                        break
    except httpx.HTTPError as exc:
        raise VmmError(
            f"cannot download {url}: {exc}",
            hint="download the release elsewhere and pass its path to --from",
        ) from exc
    return _expected(sha256, found, url)


async def install_release(
    source: str,
    *,
    firecracker_dest: Path,
    jailer_dest: Path,
    sha256: str | None = None,
    insecure: bool = False,
) -> InstalledRelease:
    """Verify and install a release; raises ValidationError or VmmError, installing nothing."""
    with tempfile.TemporaryDirectory(prefix="atelier-fc-") as scratch:
        work = Path(scratch)
        if is_url(source):
            tarball = work / "release.tgz"
            digest = verify(
                tarball, await download(source, tarball, sha256=sha256, insecure=insecure)
            )
            directory, required = _unpack(tarball, work / "unpacked"), False
        else:
            directory, digest, required = _local(Path(source), sha256, work)
        firecracker = release_binary(directory, "firecracker")
        jailer = release_binary(directory, "jailer")
        check_sums(directory, [firecracker, jailer], required=required)
        fc_staged = _stage(firecracker, firecracker_dest)
        jailer_staged = _stage(jailer, jailer_dest)
        try:
            version = await _version(fc_staged, "Firecracker")
            jailer_version = await _version(jailer_staged, "Jailer")
        except BaseException:
            fc_staged.unlink(missing_ok=True)
            jailer_staged.unlink(missing_ok=True)
            raise
        os.replace(fc_staged, firecracker_dest)
        os.replace(jailer_staged, jailer_dest)
    return InstalledRelease(firecracker_dest, jailer_dest, version, jailer_version, digest, source)


def _local(path: Path, sha256: str | None, work: Path) -> tuple[Path, str, bool]:
    """(release directory, verified digest, SHA256SUMS required) for a local source."""
    if path.is_dir():
        sums = path / SUMS
        if not sums.exists():
            raise VmmError(f"{path} has no {SUMS} file", hint="point --from at a release")
        return path, verify(sums, _expected(sha256, _sidecar(sums), sums)), True
    if path.is_file():
        digest = verify(path, _expected(sha256, _sidecar(path), path))
        return _unpack(path, work / "unpacked"), digest, False
    raise ValidationError(f"--from {path} does not exist", field="from", hint="give a path or URL")


def _unpack(tarball: Path, target: Path) -> Path:
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise VmmError(f"cannot unpack {tarball.name}: {exc}") from exc
    found = [d for d in target.rglob("*") if d.is_dir() and any(d.glob("firecracker*"))]
    return min(found, key=lambda d: len(d.parts)) if found else target


def _stage(binary: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = dest.with_name(f".{dest.name}.new")
    shutil.copyfile(binary, staged)
    staged.chmod(0o755)
    return staged


async def _version(binary: Path, product: str) -> str:
    try:
        done = await proc.run([binary, "--version"], timeout=15)
    except (CommandError, OSError) as exc:
        raise VmmError(
            f"{binary.name} --version failed: {exc}",
            hint=f"is this a {product} build for {platform.machine()}?",
        ) from exc
    match = re.search(rf"{product} v(\S+)", done.text)
    if match is None:
        raise VmmError(f"{binary.name} --version did not print '{product} v<version>'")
    return match[1]
