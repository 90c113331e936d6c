"""`atelier update`'s install command."""

from __future__ import annotations

from pathlib import Path

from atelier.core.update import install_argv

VENV = Path("/opt/atelier/venv")


def test_uv_reinstalls_atelier_from_a_wheel() -> None:
    argv = install_argv(VENV, "/tmp/atelier-0.2-py3-none-any.whl", uv="/usr/bin/uv")
    assert argv == [
        "/usr/bin/uv", "pip", "install", "--python", "/opt/atelier/venv/bin/python",
        "--reinstall-package", "atelier", "/tmp/atelier-0.2-py3-none-any.whl",
    ]  # fmt: skip


def test_pip_from_an_index_without_dependencies() -> None:
    argv = install_argv(VENV, "atelier==0.2", index_url="https://idx.example/simple", no_deps=True)
    assert argv[:4] == ["/opt/atelier/venv/bin/python", "-m", "pip", "install"]
    assert "--force-reinstall" in argv and "--no-deps" in argv
    assert argv[-1] == "atelier==0.2"
    assert argv[argv.index("--index-url") + 1] == "https://idx.example/simple"
