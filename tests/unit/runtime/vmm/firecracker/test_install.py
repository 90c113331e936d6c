"""Installing a Firecracker release: checksum first, SHA256SUMS, --version, atomic install."""

from __future__ import annotations

import hashlib
import http.server
import platform
import shutil
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from atelier.errors import ValidationError
from atelier.runtime.vmm.errors import VmmError
from atelier.runtime.vmm.firecracker.install import InstalledRelease, install_release
from tests.fakes.firecracker_server import write_fake_binaries

VERSION = "v1.17.0"
ARCH = platform.machine()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """An unpacked release directory laid out like Firecracker's, with SHA256SUMS."""
    fakes = write_fake_binaries(tmp_path / "fakes")
    directory = tmp_path / "dist" / f"release-{VERSION}-{ARCH}"
    directory.mkdir(parents=True)
    shutil.copy(fakes.firecracker, directory / f"firecracker-{VERSION}-{ARCH}")
    shutil.copy(fakes.jailer, directory / f"jailer-{VERSION}-{ARCH}")
    (directory / f"firecracker-{VERSION}-{ARCH}.debug").write_bytes(b"debug symbols")
    write_sums(directory)
    return directory


def write_sums(directory: Path) -> str:
    """(Re)write SHA256SUMS for every other file; returns the sha256 of SHA256SUMS."""
    sums = directory / "SHA256SUMS"
    files = sorted(p for p in directory.iterdir() if p.name != sums.name)
    sums.write_text("".join(f"{sha256(p)}  ./{p.name}\n" for p in files))
    return sha256(sums)


@pytest.fixture
def tarball(release: Path) -> Path:
    path = release.parent / f"firecracker-{VERSION}-{ARCH}.tgz"
    with tarfile.open(path, "w:gz") as archive:
        archive.add(release, arcname=release.name)
    return path


async def install(
    source: str, *, into: Path, sha256: str | None = None, insecure: bool = False
) -> InstalledRelease:
    return await install_release(
        source,
        firecracker_dest=into / "bin" / "firecracker",
        jailer_dest=into / "bin" / "jailer",
        sha256=sha256,
        insecure=insecure,
    )


async def test_install_from_a_tarball_with_sha256(tarball: Path, tmp_path: Path) -> None:
    installed = await install(str(tarball), sha256=sha256(tarball), into=tmp_path)
    assert installed.version == "1.17.0-dev" and installed.jailer_version == "1.17.0-dev"
    assert installed.sha256 == sha256(tarball)
    assert installed.firecracker.stat().st_mode & 0o111
    assert not list((tmp_path / "bin").glob(".*.new"))


async def test_a_sha256_file_beside_the_tarball_is_used(tarball: Path, tmp_path: Path) -> None:
    tarball.with_name(tarball.name + ".sha256.txt").write_text(f"{sha256(tarball)}  x.tgz\n")
    installed = await install(str(tarball), into=tmp_path)
    assert installed.firecracker.exists()


async def test_no_checksum_installs_nothing(tarball: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        await install(str(tarball), into=tmp_path)
    assert caught.value.field == "sha256"
    assert not (tmp_path / "bin").exists()


async def test_a_wrong_checksum_installs_nothing(tarball: Path, tmp_path: Path) -> None:
    with pytest.raises(VmmError, match="expected 0000"):
        await install(str(tarball), sha256="0" * 64, into=tmp_path)
    assert not (tmp_path / "bin").exists()


async def test_a_binary_not_matching_sha256sums_is_refused(release: Path, tmp_path: Path) -> None:
    (release / f"jailer-{VERSION}-{ARCH}").write_text("#!/bin/sh\necho tampered\n")
    sums = release / "SHA256SUMS"
    with pytest.raises(VmmError, match="does not match its SHA256SUMS entry"):
        await install(str(release), sha256=sha256(sums), into=tmp_path)


async def test_install_from_a_release_directory(release: Path, tmp_path: Path) -> None:
    sums = release / "SHA256SUMS"
    installed = await install(str(release), sha256=sha256(sums), into=tmp_path)
    assert installed.sha256 == sha256(sums)


async def test_a_binary_that_does_not_run_is_not_installed(release: Path, tmp_path: Path) -> None:
    binary = release / f"firecracker-{VERSION}-{ARCH}"
    binary.write_bytes(b"\x7fELF not really")
    sums = write_sums(release)
    with pytest.raises(VmmError, match="--version failed"):
        await install(str(release), sha256=sums, into=tmp_path)
    assert not (tmp_path / "bin" / "firecracker").exists()
    assert not list((tmp_path / "bin").glob(".*"))


async def test_plain_http_needs_insecure(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="only https") as caught:
        await install("http://127.0.0.1:9/fc.tgz", sha256="0" * 64, into=tmp_path)
    assert caught.value.field == "from"


@pytest.fixture
def served(tarball: Path) -> Iterator[str]:
    """A loopback HTTP server publishing the tarball and its .sha256 file."""
    tarball.with_name(tarball.name + ".sha256").write_text(sha256(tarball) + "\n")
    handler = partial(_QuietHandler, directory=str(tarball.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{tarball.name}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_install_from_a_url_with_its_sha256_file(served: str, tmp_path: Path) -> None:
    installed = await install(served, insecure=True, into=tmp_path)
    assert installed.source == served and installed.version == "1.17.0-dev"


async def test_a_missing_download_is_a_clear_error(served: str, tmp_path: Path) -> None:
    with pytest.raises(VmmError, match="cannot download"):
        await install(served + ".nope", sha256="0" * 64, insecure=True, into=tmp_path)
