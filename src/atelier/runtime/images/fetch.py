"""Pinned files from the package registries (npm, PyPI), or a vendor URL a build opted into.

An `NpmPin` or `PypiPin` names one file and its digest. `fetch_npm()`/`fetch_pypi()` return
its path in the download cache, downloading it only when the cached copy is missing; every
download is verified against the pinned digest before it is kept, so a build never uses a
file the recipe did not name. `fetch_url()` serves opt-in vendor downloads (build arguments),
verified when the caller has a digest. These run on the host, so they use the host's CA
bundle and proxy settings; nothing here touches the image tree.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from atelier.runtime.images.errors import ImageBuildError

_TIMEOUT = httpx.Timeout(120.0, connect=20.0)
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class NpmPin:
    """One npm package tarball: `package@version` with its registry `integrity` (SRI)."""

    package: str  # "name" or "@scope/name"
    version: str
    integrity: str  # "sha512-<base64>", as `npm view <pkg>@<ver> dist.integrity` prints it

    def url(self, registry: str) -> str:
        """The tarball's URL on `registry` (the layout every npm registry serves)."""
        basename = self.package.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.package}/-/{basename}-{self.version}.tgz"

    @property
    def filename(self) -> str:
        """A cache file name."""
        return f"{self.package.replace('/', '+')}-{self.version}.tgz"


@dataclass(frozen=True)
class PypiPin:
    """One file of a PyPI project (a wheel or sdist), by exact file name and sha256."""

    project: str
    filename: str
    sha256: str


class Digest:
    """A digest to check downloads against: an SRI string or `sha256:<hex>`."""

    def __init__(self, spec: str) -> None:
        algorithm, sep, value = spec.partition("-")
        if sep and algorithm in ("sha256", "sha384", "sha512"):
            self.algorithm, self.expected = algorithm, base64.b64decode(value).hex()
        elif spec.startswith("sha256:"):
            self.algorithm, self.expected = "sha256", spec.removeprefix("sha256:").lower()
        else:
            raise ImageBuildError(
                f"digest {spec!r} is neither an SRI string (sha512-…) nor sha256:<hex>"
            )
        self.spec = spec

    def new(self) -> Any:
        """A fresh hashlib object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    @property
    def key(self) -> str:
        """A short stable prefix for cache file names."""
        return f"{self.algorithm}-{self.expected[:16]}"


def client() -> httpx.AsyncClient:
    """The HTTP client for registry and vendor downloads (host proxy/CA settings apply)."""
    return httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=True, trust_env=True)


async def fetch_npm(pin: NpmPin, registry: str, cache: Path) -> Path:
    """The cached, verified tarball of `pin`; ImageBuildError when it cannot be had."""
    return await _fetch(pin.url(registry), Digest(pin.integrity), cache, pin.filename)


async def fetch_pypi(pin: PypiPin, index: str, cache: Path) -> Path:
    """The cached, verified file `pin.filename` of a PyPI project, found through `index`."""
    digest = Digest(f"sha256:{pin.sha256}")
    cached = cache / f"{digest.key}-{pin.filename}"
    if cached.is_file():
        return cached
    url = await pypi_file_url(index, pin.project, pin.filename)
    return await _fetch(url, digest, cache, pin.filename)


async def fetch_url(url: str, cache: Path, sha256: str | None = None) -> Path:
    """A vendor file from `url` (or a local path), verified when `sha256` is given."""
    local = Path(url.removeprefix("file://"))
    if "://" not in url or url.startswith("file://"):
        if not local.is_file():
            raise ImageBuildError(
                f"build argument file {url!r} does not exist",
                hint="give an https:// URL or the path of a downloaded file",
            )
        if sha256:
            _check_file(local, Digest(f"sha256:{sha256}"), url)
        return local
    name = Path(urlsplit(url).path).name or "download"
    digest = Digest(f"sha256:{sha256}") if sha256 else None
    return await _fetch(url, digest, cache, name)


async def pypi_file_url(index: str, project: str, filename: str) -> str:
    """The download URL of `filename` from the simple index page of `project`."""
    page = f"{index.rstrip('/')}/{normalize(project)}/"
    try:
        async with client() as http:
            reply = await http.get(page, headers={"Accept": f"{_SIMPLE_JSON}, text/html;q=0.1"})
            reply.raise_for_status()
    except httpx.HTTPError as exc:
        raise ImageBuildError(
            f"cannot read the package index page {page}: {exc}",
            hint="check images.pypi_index and the host's network access to it",
        ) from exc
    if reply.headers.get("content-type", "").startswith(_SIMPLE_JSON):
        found = find_in_json(reply.json(), filename)
    else:
        found = find_in_html(reply.text, filename)
    if found is None:
        raise ImageBuildError(
            f"{filename} is not listed on {page}",
            hint="the pinned file was removed or renamed; update the recipe's pin",
        )
    return urljoin(page, found)


def normalize(project: str) -> str:
    """PEP 503 project name normalisation."""
    return re.sub(r"[-_.]+", "-", project).lower()


def find_in_json(data: dict[str, Any], filename: str) -> str | None:
    """The URL of `filename` in a PEP 691 JSON index page."""
    for entry in data.get("files", []):
        if entry.get("filename") == filename:
            return str(entry["url"])
    return None


def find_in_html(text: str, filename: str) -> str | None:
    """The URL of `filename` in a PEP 503 HTML index page."""
    hrefs: list[str] = re.findall(r'href="([^"]+)"', text)
    for href in hrefs:
        if urlsplit(href).path.rsplit("/", 1)[-1] == filename:
            return href.replace("&amp;", "&")
    return None


async def _fetch(url: str, digest: Digest | None, cache: Path, name: str) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    key = digest.key if digest else "unverified"
    final = cache / f"{key}-{name}"
    if digest is not None and final.is_file():
        return final
    partial = final.with_name(final.name + ".part")
    try:
        actual = await _download(url, partial, digest)
        if digest is not None and actual != digest.expected:
            raise ImageBuildError(
                f"{url} has {digest.algorithm} {actual}, but the recipe pins {digest.expected}",
                hint="the registry served different bytes than the pin; do not override this",
            )
        partial.rename(final)
    finally:
        partial.unlink(missing_ok=True)
    return final


async def _download(url: str, dest: Path, digest: Digest | None) -> str:
    h = digest.new() if digest else hashlib.sha256()
    try:
        async with client() as http, http.stream("GET", url) as reply:
            reply.raise_for_status()
            with dest.open("wb") as out:
                async for chunk in reply.aiter_bytes(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise ImageBuildError(
            f"cannot download {url}: {exc}",
            hint="check the registry settings in the images config and the host's network",
        ) from exc
    return str(h.hexdigest())


def _check_file(path: Path, digest: Digest, label: str) -> None:
    h = digest.new()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    if h.hexdigest() != digest.expected:
        raise ImageBuildError(
            f"{label} has sha256 {h.hexdigest()}, expected {digest.expected}",
            hint="download the file again or fix the sha256 build argument",
        )
