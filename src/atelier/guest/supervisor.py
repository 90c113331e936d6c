"""Runs registry services: start, stop, restart with backoff, status and logs.

Each service runs in its own session (and cgroup when available) with stdout and stderr
appended to `<log_dir>/<name>.log` (rotated to `.1` at start when over `log_max_bytes`). Stop
sends the service's stop signal to its whole process group, then SIGKILL after
`stop_timeout_s`. When the main process exits, whatever it left in its group is killed too:
services must stay in the foreground. Restarts back off exponentially from `restart_delay_s`
to `restart_max_delay_s`; a run of `STABLE_S` seconds resets the backoff.
"""

from __future__ import annotations

import os
import time

from atelier.guest import log, services, sigs, spawn
from atelier.guest import protocol as p
from atelier.guest.session import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.loop import Timer
    from atelier.guest.services import ServiceSpec

STABLE_S = 10.0


class Service:
    """Runtime state of one service."""

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self.state = "stopped"  # stopped | running | stopping | backoff | exited | failed
        self.want_up = False
        self.held = False  # stopped by a request: the boot pass must not autostart it
        self.pid = 0
        self.started_at: float | None = None
        self.started_mono = 0.0
        self.exit: dict[str, Any] | None = None
        self.error: str | None = None
        self.restarts = 0
        self.failures = 0
        self.timer: Timer | None = None
        self.cgroup: str | None = None
        self.waiters: list[Callable[[], None]] = []

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Supervisor:
    """All services of the guest, by name."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.loop = agent.loop
        self.log_dir = agent.config.log_dir
        self.services: dict[str, Service] = {}
        self.invalid: dict[str, str] = {}
        self.reload()

    def reload(self) -> None:
        specs, self.invalid = services.load(
            self.agent.config.services_dirs, builtins=self.agent.config.system
        )
        for name, spec in specs.items():
            current = self.services.get(name)
            if current is None:
                self.services[name] = Service(spec)
            else:
                current.spec = spec  # a running service keeps its process; the next start uses this
        for name in list(self.services):
            if name not in specs and self.services[name].state in ("stopped", "exited", "failed"):
                del self.services[name]

    def get(self, name: str) -> Service:
        self.reload()
        service = self.services.get(name)
        if service is None:
            if name in self.invalid:
                raise OpError(
                    p.E_BAD_REQUEST,
                    f"service {name!r} is misconfigured: {self.invalid[name]}",
                    field="name",
                )
            raise OpError(
                p.E_NOT_FOUND,
                f"no service named {name!r}",
                field="name",
                hint="service.list shows them",
            )
        return service

    # control
    def start(self, name: str) -> dict[str, Any]:
        service = self.get(name)
        service.want_up = True
        service.held = False
        if service.state in ("running", "stopping"):
            return self.status(service)
        service.cancel_timer()
        service.failures = 0
        self._spawn(service)
        return self.status(service)

    def stop(self, name: str, done: Callable[[], None]) -> None:
        service = self.get(name)
        service.held = True
        self._stop(service, done)

    def _stop(self, service: Service, done: Callable[[], None]) -> None:
        service.want_up = False
        service.cancel_timer()
        if service.state not in ("running", "stopping"):
            if service.state == "backoff":
                service.state = "stopped"
            done()
            return
        service.waiters.append(done)
        if service.state == "running":
            service.state = "stopping"
            spawn.kill_group(service.pid, sigs.BY_NAME[service.spec.stop_signal])
            service.timer = self.loop.call_later(
                service.spec.stop_timeout_s, lambda: self._kill(service)
            )

    def _kill(self, service: Service) -> None:
        spawn.kill_group(service.pid, sigs.SIGKILL)
        self.agent.cgroups.kill(service.cgroup)

    def restart(self, name: str, done: Callable[[dict[str, Any]], None]) -> None:
        service = self.get(name)
        self._stop(service, lambda: done(self.start(name)))

    def boot(self, names: list[str] | None) -> None:
        """Start the named services, or every `autostart` one when `names` is None.

        The agent answers before this boot pass: a service a client stopped by then stays
        stopped.
        """
        self.reload()
        chosen = (
            names
            if names is not None
            else [n for n, s in self.services.items() if s.spec.autostart]
        )
        for name in chosen:
            if name in self.services and self.services[name].held:
                continue
            try:
                self.start(name)
            except OpError as exc:
                log.notice(f"service {name}: {exc.message}")
                self.agent.boot_errors.append(f"service {name}: {exc.message}")

    def stop_all(self, done: Callable[[], None]) -> None:
        running = [
            s for s in self.services.values() if s.state in ("running", "stopping", "backoff")
        ]
        left = [len(running)]
        if not running:
            done()
            return

        def one_done() -> None:
            left[0] -= 1
            if left[0] == 0:
                done()

        for service in running:
            self._stop(service, one_done)

    def shutdown(self) -> None:
        for service in self.services.values():
            service.cancel_timer()
            service.want_up = False
            if service.state in ("running", "stopping"):
                spawn.kill_group(service.pid, sigs.SIGKILL)
                self.agent.cgroups.kill(service.cgroup)

    # processes
    def _log_path(self, name: str) -> str:
        return os.path.join(self.log_dir, f"{name}.log")

    def _log_line(self, fd: int, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            os.write(fd, f"--- atelier {stamp}: {text} ---\n".encode())
        except OSError:
            pass

    def _open_log(self, service: Service) -> int:
        path = self._log_path(service.spec.name)
        os.makedirs(self.log_dir, exist_ok=True)
        try:
            if os.path.getsize(path) > service.spec.log_max_bytes:
                os.replace(path, path + ".1")
        except OSError:
            pass
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)

    def _spawn(self, service: Service) -> None:
        spec = service.spec
        service.timer = None
        service.exit = None
        service.error = None
        fd = self._open_log(service)
        try:
            cred = spawn.lookup_user(spec.user)
            for directory in spec.dirs:
                os.makedirs(directory, 0o755, exist_ok=True)
                if cred is not None:
                    os.chown(directory, cred.uid, cred.gid)
            service.cgroup = service.cgroup or self.agent.cgroups.create(f"service-{spec.name}")
            env = spawn.child_env(cred, spec.env)
            cwd = spec.cwd or spawn.default_cwd(cred) or "/"
            service.pid = spawn.spawn(
                spec.argv, env=env, cwd=cwd, cred=cred, stdout=fd, stderr=fd, cgroup=service.cgroup
            )
        except (OpError, OSError) as exc:
            message = exc.message if isinstance(exc, OpError) else f"{exc.strerror}: {exc.filename}"
            self._log_line(fd, f"cannot start: {message}")
            os.close(fd)
            service.error = message
            self._after_exit(service, failed=True)
            return
        self._log_line(fd, f"started pid {service.pid}: {' '.join(spec.argv)}")
        os.close(fd)
        service.state = "running"
        service.started_at = time.time()
        service.started_mono = time.monotonic()
        self.loop.watch_child(service.pid, lambda status: self._on_exit(service, status))

    def _on_exit(self, service: Service, status: int) -> None:
        service.cancel_timer()
        spawn.kill_group(service.pid, sigs.SIGKILL)  # leftovers of the group
        self.agent.cgroups.kill(service.cgroup)
        service.exit = spawn.describe_status(status)
        try:
            fd = self._open_log(service)
            self._log_line(fd, f"pid {service.pid} exited: {service.exit}")
            os.close(fd)
        except OSError:
            pass
        failed = status != 0
        if time.monotonic() - service.started_mono >= STABLE_S:
            service.failures = 0
        self._after_exit(service, failed)

    def _after_exit(self, service: Service, failed: bool) -> None:
        waiters, service.waiters = service.waiters, []
        policy = service.spec.restart
        again = service.want_up and (policy == "always" or (policy == "on-failure" and failed))
        if again:
            service.failures += 1
            service.restarts += 1
            delay = min(
                service.spec.restart_delay_s * 2 ** (service.failures - 1),
                service.spec.restart_max_delay_s,
            )
            service.state = "backoff"
            service.timer = self.loop.call_later(delay, lambda: self._spawn(service))
        elif not service.want_up:
            service.state = "stopped"
        else:
            service.state = "failed" if failed else "exited"
            service.want_up = False
        for waiter in waiters:
            waiter()

    # reporting
    def status(self, service: Service) -> dict[str, Any]:
        spec = service.spec
        alive = service.state in ("running", "stopping")
        return {
            "name": spec.name, "state": service.state, "pid": service.pid if alive else None,
            "started_at": service.started_at, "exit": service.exit, "error": service.error,
            "restarts": service.restarts, "description": spec.description, "port": spec.port,
            "user": spec.user, "autostart": spec.autostart, "restart": spec.restart,
            "log": self._log_path(spec.name), "source": spec.source,
        }  # fmt: skip

    def list(self) -> list[dict[str, Any]]:
        self.reload()
        items = [self.status(s) for _, s in sorted(self.services.items())]
        items += [
            {"name": n, "state": "invalid", "error": e} for n, e in sorted(self.invalid.items())
        ]
        return items

    def logs(self, name: str, offset: int | None, limit: int, tail: int | None) -> dict[str, Any]:
        self.get(name)
        path = self._log_path(name)
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                start = max(0, size - tail) if tail is not None else min(offset or 0, size)
                fh.seek(start)
                data = fh.read(limit)
        except FileNotFoundError:
            size, start, data = 0, 0, b""
        return {
            "name": name,
            "path": path,
            "data": data,
            "offset": start,
            "next_offset": start + len(data),
            "size": size,
        }
