"""dev-cloud: built on the cached dev-base stage; the cloud CLIs run inside a booted sandbox.

`gcloud` is an opt-in build argument (its only source is Google's site): the test checks it
when the image was built with it and otherwise checks that the image says it was left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atelier.runtime.images.catalog import BuiltImage
from atelier.runtime.images.installs import ABSENT_DIR
from tests.integration.images.devkit import (
    booted_dev,
    ensure_image,
    needs_qemu,
    needs_root,
)
from tests.vmkit import host_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vm,
    pytest.mark.root,
    needs_root,
    needs_qemu,
    pytest.mark.timeout(3600),
]


@pytest.fixture(scope="module")
async def image() -> BuiltImage:
    return await ensure_image(host_config(), "dev-cloud")


async def test_cloud_clis_run(image: BuiltImage, artifacts_dir: Path) -> None:
    assert image.manifest.parent == "dev-base"
    gcloud_note = image.manifest.notes.get("build_arg.gcloud_url", "")
    async with booted_dev("dev-cloud", artifacts_dir) as dev:
        client = dev.vm.client
        aws = await client.exec(["aws", "--version"], user="dev", timeout=180)
        assert aws.exit_code == 0, aws.stderr.decode()
        assert re.match(r"aws-cli/1\.\d+\.\d+", (aws.stdout + aws.stderr).decode())

        kubectl = await client.exec(["kubectl", "version", "--client"], user="dev", timeout=180)
        assert kubectl.exit_code == 0, kubectl.stderr.decode()
        version = re.search(r"Client Version: v1\.(\d+)\.", kubectl.stdout.decode())
        assert version and int(version.group(1)) >= 34, kubectl.stdout.decode()

        if gcloud_note.startswith("given"):
            gcloud = await client.exec(["gcloud", "--version"], user="dev", timeout=300)
            assert gcloud.exit_code == 0, gcloud.stderr.decode()
            assert "Google Cloud SDK" in gcloud.stdout.decode()
        else:
            note = await client.read_file(f"{ABSENT_DIR}/gcloud")
            assert b"--arg gcloud_url=" in note
            shell = await client.exec(["bash", "-ic", "gcloud --version"], user="dev")
            assert shell.exit_code == 127 and b"opt-in build argument" in shell.stderr
            pytest.skip(
                "gcloud was not built into dev-cloud: it is the opt-in build argument"
                " gcloud_url (vendor download), not given on this host"
            )
