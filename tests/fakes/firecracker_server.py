"""The fake Firecracker served over HTTP/1.1 on a Unix socket, in a thread or as a program.

`FakeFirecrackerServer` runs `FakeFirecracker` behind `http.server` on an AF_UNIX socket.
`main()` is the body of a fake `firecracker` executable (written by `write_fake_binaries`)
that parses Firecracker's own arguments, records every call as a JSON line and exits after
`SendCtrlAltDel`, so the driver's real spawn, socket wait and API sequence run end to end.
"""

from __future__ import annotations

import json
import os
import signal
import socketserver
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType, TracebackType

from tests.fakes.firecracker import EXITED, Call, FakeFirecracker
from tests.fakes.firecracker_spec import SwaggerApi

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, fake: FakeFirecracker) -> None:
        self.fake = fake
        self.exited = threading.Event()
        super().__init__(os.fspath(path), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, answer = self.server.fake.handle(self.command, self.path, raw)
        payload = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        if self.server.fake.state == EXITED:
            self.server.exited.set()

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return "unix"


class FakeFirecrackerServer:
    """Serves a `FakeFirecracker` on `socket_path` from a background thread."""

    def __init__(self, fake: FakeFirecracker, socket_path: Path) -> None:
        self.fake = fake
        self.socket_path = socket_path
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def exited(self) -> threading.Event:
        """Set once the fake guest has powered off (after SendCtrlAltDel)."""
        assert self._server is not None
        return self._server.exited

    def start(self) -> None:
        """Bind the socket and serve."""
        self._server = _Server(self.socket_path, self.fake)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the vsock listener and remove the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.fake.close()
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> FakeFirecrackerServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def parse_options(argv: Sequence[str], flags: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """`--key value`, `--key=value` and bare flags; arguments after `--` are returned apart.

    Raises SystemExit(1) on an unknown argument, as Firecracker and the jailer do.
    """
    options: dict[str, list[str]] = {}
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            return options, rest
        if not arg.startswith("--"):
            _die(f"Found argument '{arg}' which wasn't expected")
        key, has_value, value = arg[2:].partition("=")
        if key in flags:
            options.setdefault(key, []).append("")
            continue
        if not has_value:
            if not rest:
                _die(f"Argument '--{key}' requires a value")
            value = rest.pop(0)
        options.setdefault(key, []).append(value)
    return options, []


def _die(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(1)


_FC_OPTIONS = {"api-sock", "id", "start-time-us", "start-time-cpu-us", "fake-chroot"}


def main(
    argv: Sequence[str], *, record: str | None = None, vsock_backends: Mapping[int, str] = {}
) -> int:
    """Run as `firecracker`: serve the fake API until the guest powers off or SIGTERM."""
    options, _ = parse_options(argv, {"version"})
    unknown = set(options) - _FC_OPTIONS - {"version"}
    if unknown:
        _die(f"Found argument '--{sorted(unknown)[0]}' which wasn't expected")
    api = SwaggerApi()
    if "version" in options:
        sys.stdout.write(f"Firecracker v{api.version}\n\n")
        return 0
    chroot = options.get("fake-chroot", [None])[0]
    root = Path(chroot) if chroot else Path.cwd()
    api_sock = options.get("api-sock", ["/run/firecracker.socket"])[0]
    socket_path = root / api_sock.lstrip("/") if chroot else Path(api_sock)

    def on_call(call: Call) -> None:
        if record is not None:
            with open(record, "a") as out:
                out.write(json.dumps(asdict(call)) + "\n")
        if call.body == {"action_type": "InstanceStart"} and call.status == 204:
            sys.stdout.write("[    0.000000] Linux version 6.1.0 (fake guest)\n")
            sys.stdout.flush()

    fake = FakeFirecracker(
        root,
        api=api,
        vm_id=options.get("id", ["anonymous-instance"])[0],
        jailed=chroot is not None,
        vsock_backends={port: Path(path) for port, path in vsock_backends.items()},
        on_call=on_call,
    )
    server = FakeFirecrackerServer(fake, socket_path)
    server.start()
    sys.stdout.write(f"Running Firecracker v{api.version}\n")
    sys.stdout.flush()

    def on_term(signum: int, frame: FrameType | None) -> None:
        server.exited.set()

    signal.signal(signal.SIGTERM, on_term)
    server.exited.wait()
    server.stop()
    return 0


@dataclass(frozen=True)
class FakeBinaries:
    """Fake `firecracker` and `jailer` executables and the file their calls go to."""

    firecracker: Path
    jailer: Path
    record: Path

    def calls(self) -> list[Call]:
        """Every API call any fake Firecracker started from these binaries received."""
        if not self.record.exists():
            return []
        return [Call(**json.loads(line)) for line in self.record.read_text().splitlines()]


def write_fake_binaries(directory: Path, vsock_backends: Mapping[int, Path] = {}) -> FakeBinaries:
    """Write launcher scripts running this repository's fakes with this interpreter."""
    directory.mkdir(parents=True, exist_ok=True)
    record = directory / "calls.jsonl"
    backends = {port: str(path) for port, path in vsock_backends.items()}
    header = f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO_ROOT)!r})\n"
    firecracker = directory / "firecracker"
    firecracker.write_text(
        header + "from tests.fakes.firecracker_server import main\n"
        f"sys.exit(main(sys.argv[1:], record={str(record)!r}, vsock_backends={backends!r}))\n"
    )
    jailer = directory / "jailer"
    jailer.write_text(
        header + "from tests.fakes.firecracker_jailer import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    for path in (firecracker, jailer):
        path.chmod(0o755)
    return FakeBinaries(firecracker, jailer, record)


def write_fake_release(directory: Path, version: str = "v1.17.0") -> Path:
    """A Firecracker-style release tarball of the fake binaries (with SHA256SUMS inside)."""
    import hashlib
    import platform
    import tarfile

    arch = platform.machine()
    fakes = write_fake_binaries(directory / "fakes")
    release = directory / f"release-{version}-{arch}"
    release.mkdir(parents=True)
    sums = []
    for tool, source in (("firecracker", fakes.firecracker), ("jailer", fakes.jailer)):
        target = release / f"{tool}-{version}-{arch}"
        target.write_bytes(source.read_bytes())
        target.chmod(0o755)
        sums.append(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  ./{target.name}\n")
    (release / "SHA256SUMS").write_text("".join(sums))
    tarball = directory / f"firecracker-{version}-{arch}.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(release, arcname=release.name)
    return tarball
