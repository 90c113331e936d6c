"""An interactive terminal to a sandbox: the local TTY bridged to the terminal WebSocket."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import termios
import threading
import tty
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from atelier.config import client_settings
from atelier.errors import Unauthorized


def attach_terminal(sandbox_id: str, session: str | None = None) -> int:
    """Run until the remote shell exits or the connection closes; returns its exit code."""
    settings = client_settings()
    if settings.token is None:
        raise Unauthorized("no API token configured", hint="set ATELIER_TOKEN or run `atelier up`")
    cols, rows = shutil.get_terminal_size()
    base = settings.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    url = f"{base}/api/sandboxes/{sandbox_id}/terminal?cols={cols}&rows={rows}"
    if session:
        url += f"&session={session}"
    token = settings.token.get_secret_value()
    exit_info: dict[str, Any] = {}
    with ws_connect(url, subprotocols=[f"bearer.{token}"], max_size=None) as ws:  # type: ignore[list-item]  # websockets types subprotocols narrowly
        stdin_fd = sys.stdin.fileno()
        saved = termios.tcgetattr(stdin_fd) if os.isatty(stdin_fd) else None

        def on_resize(*_: object) -> None:
            c, r = shutil.get_terminal_size()
            with contextlib.suppress(ConnectionClosed):
                ws.send(json.dumps({"type": "resize", "cols": c, "rows": r}))

        def reader() -> None:
            with contextlib.suppress(ConnectionClosed):
                for message in ws:
                    if isinstance(message, bytes):
                        os.write(sys.stdout.fileno(), message)
                    else:
                        control = json.loads(message)
                        if control.get("type") == "exit":
                            exit_info.update(control)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        previous = signal.signal(signal.SIGWINCH, on_resize)
        try:
            if saved is not None:
                tty.setraw(stdin_fd)
            while thread.is_alive():
                ready, _, _ = select.select([stdin_fd], [], [], 0.2)
                if ready:
                    data = os.read(stdin_fd, 4096)
                    if not data:
                        break
                    ws.send(data)
        except ConnectionClosed:
            pass
        finally:
            if saved is not None:
                termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
            signal.signal(signal.SIGWINCH, previous)
    code = exit_info.get("exit_code")
    return int(code) if isinstance(code, int) else 0
