"""Registry install actions, opt-in vendor archives and the command/network extras of steps."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from atelier.runtime.images import steps
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.fetch import NpmPin
from atelier.runtime.images.installs import ABSENT_DIR, FromNpm, Link, Unpack, VendorArchive
from atelier.runtime.images.steps import Run, StepContext, host_network

from .registry_server import serve, sha256, sri


class Recorder:
    """BuildEvents that keep the notes."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def phase(self, name: str) -> None:
        return None

    def detail(self, text: str) -> None:
        return None

    def done(self, name: str, seconds: float, summary: str = "") -> None:
        return None

    def note(self, text: str) -> None:
        self.notes.append(text)


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ctx(tmp_path: Path, **kw: object) -> StepContext:
    root = tmp_path / "rootfs"
    for sub in ("etc", "tmp", "usr/local/bin"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return StepContext(root, tmp_path / "build.log", Recorder(), **kw)  # type: ignore[arg-type]  # keyword extras


GCLOUD = VendorArchive(
    tool="Cloud CLI",
    command="cloudctl",
    url_arg="cloud_url",
    sha_arg="cloud_sha256",
    unpack=(Unpack("cloud-sdk/", "/opt/cloud-sdk/"),),
    links=(Link("/usr/local/bin/cloudctl", "/opt/cloud-sdk/bin/cloudctl"),),
)


async def test_from_npm_downloads_verifies_and_unpacks(tmp_path: Path) -> None:
    tarball = _tgz({"package/bin/tool": b"#!tool", "package/lib/a.js": b"a"})
    pin = NpmPin("tool", "2.0.0", sri(tarball))
    action = FromNpm(
        pin,
        (Unpack("package/", "/usr/local/lib/node_modules/tool/"),),
        (Link("/usr/local/bin/tool", "../lib/node_modules/tool/bin/tool"),),
    )
    with serve() as registry:
        registry.add("/tool/-/tool-2.0.0.tgz", tarball)
        ctx = _ctx(tmp_path, npm_registry=registry.url, downloads=tmp_path / "dl")
        await action.apply(ctx)
    assert (ctx.root / "usr/local/bin/tool").read_bytes() == b"#!tool"
    assert os.readlink(ctx.root / "usr/local/bin/tool") == "../lib/node_modules/tool/bin/tool"
    assert any((tmp_path / "dl").iterdir())


def test_fingerprints_cover_the_pin_and_the_layout() -> None:
    a = FromNpm(NpmPin("t", "1.0.0", "sha512-a"), (Unpack("package/x", "/x"),))
    assert a.fingerprint() != FromNpm(NpmPin("t", "1.0.1", "sha512-a"), a.unpack).fingerprint()
    assert a.fingerprint() != FromNpm(a.pin, (Unpack("package/x", "/y"),)).fingerprint()
    assert a.fingerprint() != FromNpm(a.pin, (Unpack("package/x", "/x", 0o755),)).fingerprint()


async def test_vendor_archive_left_out_is_explained(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    await GCLOUD.apply(ctx)
    note = (ctx.root / ABSENT_DIR.lstrip("/") / "cloudctl").read_text()
    assert "--arg cloud_url=" in note and "Cloud CLI" in note
    assert isinstance(ctx.events, Recorder) and "cloudctl: left out" in ctx.events.notes[0]
    assert not (ctx.root / "opt").exists()


async def test_vendor_archive_from_a_local_file(tmp_path: Path) -> None:
    archive = tmp_path / "cloud.tgz"
    archive.write_bytes(_tgz({"cloud-sdk/bin/cloudctl": b"#!cloud"}))
    args = {"cloud_url": str(archive), "cloud_sha256": sha256(archive.read_bytes())}
    ctx = _ctx(tmp_path, args=args, downloads=tmp_path / "dl")
    await GCLOUD.apply(ctx)
    assert (ctx.root / "opt/cloud-sdk/bin/cloudctl").read_bytes() == b"#!cloud"
    assert os.readlink(ctx.root / "usr/local/bin/cloudctl") == "/opt/cloud-sdk/bin/cloudctl"
    assert not (ctx.root / ABSENT_DIR.lstrip("/")).exists()


async def test_vendor_archive_with_a_wrong_digest_fails(tmp_path: Path) -> None:
    archive = tmp_path / "cloud.tgz"
    archive.write_bytes(_tgz({"cloud-sdk/bin/cloudctl": b"#!cloud"}))
    ctx = _ctx(tmp_path, args={"cloud_url": str(archive), "cloud_sha256": "0" * 64})
    with pytest.raises(ImageBuildError, match="sha256"):
        await GCLOUD.apply(ctx)


def test_run_as_user_in_a_directory_with_env() -> None:
    plain = Run(("echo", "hi"))
    assert plain.command() == ["echo", "hi"]
    assert plain.fingerprint() == "run\0echo\0hi\0net=False"  # unchanged for existing recipes
    full = Run(("npm", "ci"), env=(("JOBS", "max"),), user="dev", cwd="/w")
    assert full.command() == [
        "runuser", "-u", "dev", "--", "env", "--chdir=/w", "JOBS=max", "npm", "ci",
    ]  # fmt: skip
    assert (
        full.fingerprint()
        != Run(("npm", "ci"), env=(("JOBS", "1"),), user="dev", cwd="/w").fingerprint()
    )


def test_host_network_is_put_in_and_taken_out(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, npm_registry="http://npm.local/", pypi_index="http://pypi.local/simple")
    resolv = ctx.root / "etc/resolv.conf"
    resolv.write_text("# placeholder\n")
    with host_network(ctx) as env:
        assert resolv.read_bytes() == steps.HOST_RESOLV_CONF.read_bytes()
        assert env["npm_config_registry"] == "http://npm.local/"
        assert env["UV_DEFAULT_INDEX"] == "http://pypi.local/simple"
        if steps.HOST_CA_BUNDLE.is_file():
            assert env["NODE_EXTRA_CA_CERTS"] == steps.BUILD_CA
            assert (ctx.root / steps.BUILD_CA.lstrip("/")).is_file()
    assert resolv.read_text() == "# placeholder\n"
    assert not (ctx.root / steps.BUILD_CA.lstrip("/")).exists()
