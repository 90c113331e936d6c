"""dev-cloud: built on the cached dev-base stage; the cloud CLIs run inside a booted sandbox.

`gcloud` is an opt-in build argument (its only source is Google's site): it is checked when
the image was built with it; otherwise the image must say it was left out, and that test is
skipped naming the build argument.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from atelier.runtime.images.catalog import BuiltImage
from atelier.runtime.images.installs import ABSENT_DIR
from tests.conftest import ARTIFACTS
from tests.integration.images.devkit import DevVm, booted_dev, ensure_image, needs_qemu, needs_root
from tests.vmkit import host_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vm,
    pytest.mark.root,
    needs_root,
    needs_qemu,
    pytest.mark.timeout(3600),
]


@pytest_asyncio.fixture(scope="module")
async def image() -> BuiltImage:
    return await ensure_image(host_config(), "dev-cloud")


@pytest_asyncio.fixture(scope="module")
async def dev_cloud(image: BuiltImage) -> AsyncIterator[DevVm]:
    artifacts = ARTIFACTS / "integration-images-dev-cloud-vm"
    artifacts.mkdir(parents=True, exist_ok=True)
    # Only the CLIs are checked here: dev-base's services (tested there) stay stopped.
    async with booted_dev("dev-cloud", artifacts, ("atelier.services=sshd",)) as dev:
        yield dev


async def test_built_on_dev_base(image: BuiltImage) -> None:
    assert image.manifest.parent == "dev-base"
    assert image.manifest.recommended_memory_mb >= 2048


async def test_aws_cli_and_kubectl_run(dev_cloud: DevVm) -> None:
    client = dev_cloud.vm.client
    aws = await client.exec(["aws", "--version"], user="dev", timeout=600)
    assert aws.exit_code == 0, aws.stderr.decode()
    assert re.match(r"aws-cli/1\.\d+\.\d+", (aws.stdout + aws.stderr).decode())

    kubectl = await client.exec(["kubectl", "version", "--client"], user="dev", timeout=600)
    assert kubectl.exit_code == 0, kubectl.stderr.decode()
    version = re.search(r"Client Version: v1\.(\d+)\.", kubectl.stdout.decode())
    assert version and int(version.group(1)) >= 34, kubectl.stdout.decode()


async def test_gcloud_runs_where_installed(image: BuiltImage, dev_cloud: DevVm) -> None:
    client = dev_cloud.vm.client
    if image.manifest.notes.get("build_arg.gcloud_url", "").startswith("given"):
        gcloud = await client.exec(["gcloud", "--version"], user="dev", timeout=600)
        assert gcloud.exit_code == 0, gcloud.stderr.decode()
        assert "Google Cloud SDK" in gcloud.stdout.decode()
        return
    note = await client.read_file(f"{ABSENT_DIR}/gcloud")
    assert b"--arg gcloud_url=" in note
    shell = await client.exec(["bash", "-ic", "gcloud --version"], user="dev", timeout=120)
    assert shell.exit_code == 127 and b"opt-in build argument" in shell.stderr
    pytest.skip(
        "gcloud is not in this dev-cloud: it is the opt-in build argument gcloud_url"
        " (a download from Google's site), not given when the image was built"
    )
