"""Pinned registry downloads: URLs, digests, index pages and the cache (loopback registry)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from atelier.runtime.images import fetch
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.fetch import Digest, NpmPin, PypiPin

from .registry_server import serve, sha256, sri


def test_npm_tarball_urls() -> None:
    assert (
        NpmPin("npm", "10.9.9", "sha512-x").url("https://registry.npmjs.org/")
        == "https://registry.npmjs.org/npm/-/npm-10.9.9.tgz"
    )
    assert (
        NpmPin("@novnc/novnc", "1.7.0", "sha512-x").url("http://mirror/npm")
        == "http://mirror/npm/@novnc/novnc/-/novnc-1.7.0.tgz"
    )


def test_digests() -> None:
    data = b"payload"
    assert Digest(sri(data)).expected == hashlib.sha512(data).hexdigest()
    assert Digest(f"sha256:{sha256(data)}").algorithm == "sha256"
    with pytest.raises(ImageBuildError, match="neither an SRI"):
        Digest("md5-abc")


def test_index_pages() -> None:
    page = {"files": [{"filename": "a-1.whl", "url": "../../files/a-1.whl"}]}
    assert fetch.find_in_json(page, "a-1.whl") == "../../files/a-1.whl"
    assert fetch.find_in_json(page, "a-2.whl") is None
    html = '<a href="https://files/x/a-1.whl#sha256=00">a-1.whl</a>'
    assert fetch.find_in_html(html, "a-1.whl") == "https://files/x/a-1.whl#sha256=00"
    assert fetch.normalize("AWS_cdk.Lambda-layer") == "aws-cdk-lambda-layer"


async def test_npm_download_is_verified_and_cached(tmp_path: Path) -> None:
    data = b"tarball bytes"
    pin = NpmPin("@scope/tool", "1.2.3", sri(data))
    with serve() as registry:
        registry.add("/@scope/tool/-/tool-1.2.3.tgz", data)
        first = await fetch.fetch_npm(pin, registry.url, tmp_path)
        second = await fetch.fetch_npm(pin, registry.url, tmp_path)
    assert first == second and first.read_bytes() == data
    assert registry.requests == ["/@scope/tool/-/tool-1.2.3.tgz"]


async def test_wrong_bytes_are_refused_and_not_kept(tmp_path: Path) -> None:
    pin = NpmPin("tool", "1.0.0", sri(b"what the recipe pinned"))
    with serve() as registry:
        registry.add("/tool/-/tool-1.0.0.tgz", b"something else")
        with pytest.raises(ImageBuildError, match="pins"):
            await fetch.fetch_npm(pin, registry.url, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_missing_package_names_the_url(tmp_path: Path) -> None:
    with serve() as registry, pytest.raises(ImageBuildError, match="cannot download"):
        await fetch.fetch_npm(NpmPin("gone", "1.0.0", sri(b"x")), registry.url, tmp_path)


@pytest.mark.parametrize("style", ["json", "html"])
async def test_pypi_file_through_the_simple_index(tmp_path: Path, style: str) -> None:
    wheel = b"wheel bytes"
    pin = PypiPin("My_Tool", "my_tool-1.0-py3-none-any.whl", sha256(wheel))
    with serve() as registry:
        if style == "json":
            page = {"files": [{"filename": pin.filename, "url": "/files/w.whl", "hashes": {}}]}
            registry.add(
                "/simple/my-tool/", json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json"
            )
        else:
            link = f'<a href="/files/{pin.filename}#sha256={pin.sha256}">{pin.filename}</a>'
            registry.add("/simple/my-tool/", link.encode(), "text/html")
            registry.add(f"/files/{pin.filename}", wheel)
        registry.add("/files/w.whl", wheel)
        path = await fetch.fetch_pypi(pin, f"{registry.url}/simple", tmp_path)
    assert path.read_bytes() == wheel


async def test_pypi_file_not_listed(tmp_path: Path) -> None:
    with serve() as registry:
        registry.add("/simple/tool/", b'{"files": []}', "application/vnd.pypi.simple.v1+json")
        with pytest.raises(ImageBuildError, match="not listed"):
            await fetch.fetch_pypi(
                PypiPin("tool", "t.whl", "00"), f"{registry.url}/simple", tmp_path
            )


async def test_vendor_url_or_local_file(tmp_path: Path) -> None:
    local = tmp_path / "cli.tar.gz"
    local.write_bytes(b"archive")
    assert await fetch.fetch_url(str(local), tmp_path / "cache") == local
    assert await fetch.fetch_url(f"file://{local}", tmp_path / "cache", sha256(b"archive")) == local
    with pytest.raises(ImageBuildError, match="expected"):
        await fetch.fetch_url(str(local), tmp_path / "cache", sha256(b"other"))
    with pytest.raises(ImageBuildError, match="does not exist"):
        await fetch.fetch_url(str(tmp_path / "missing.tgz"), tmp_path / "cache")
    with serve() as registry:
        registry.add("/dl/cli.tar.gz", b"remote")
        got = await fetch.fetch_url(f"{registry.url}/dl/cli.tar.gz", tmp_path / "cache")
    assert got.read_bytes() == b"remote" and got.name.endswith("cli.tar.gz")
