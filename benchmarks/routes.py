"""Route latency through the real Caddy with a real manager (forward-auth on every request).

Registers N stand-in sandboxes one after another and prints, per TLS mode:
- route-live: from the `ProxyService.sandbox_running` call to the first proxied 200 (plain
  HTTP, `proxy.tls = "off"`), p50/p90/max;
- first HTTPS response: the same with `tls internal`, each attempt on a new TLS connection
  that must validate against Caddy's internal CA;
- the registration call alone, and the per-request cost of the proxy + forward-auth versus
  the upstream directly (keep-alive, p50).
Last line: one JSON object. Usage: python benchmarks/routes.py [N]
"""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.proxy.harness import (
    TLS_ERRORS,
    Recorder,
    Stack,
    loopback_client,
)

from atelier.runtime.host.names import new_id


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": ms(statistics.median(ordered)),
        "p90_ms": ms(ordered[int(0.9 * (len(ordered) - 1))]),
        "max_ms": ms(ordered[-1]),
    }


async def first_ok(url: str, headers: dict[str, str], context: ssl.SSLContext) -> float:
    """Seconds until `url` first answers 200 (new connection per attempt)."""
    started = time.perf_counter()
    for _ in range(2000):
        async with loopback_client(context) as client:
            try:
                if (await client.get(url, headers=headers)).status_code == 200:
                    return time.perf_counter() - started
            except TLS_ERRORS:
                pass
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{url} never answered 200")


async def run_mode(tls: str, n: int, recorder: Recorder) -> dict[str, Any]:
    async with Stack({"tls": tls}) as stack:
        owner = await stack.manager.auth.create_user("owner")
        _, token = await stack.manager.auth.create_token(owner.id, "bench")
        bearer = {"Authorization": f"Bearer {token}"}
        if tls == "internal":
            await stack.wait_internal_ca()
            context = stack.ssl_context()
        else:
            context = ssl.create_default_context()
        live: list[float] = []
        register: list[float] = []
        urls: list[str] = []
        for _ in range(n):
            sid = new_id()
            stack.directory.add(sid, owner.id, services={"code": recorder.endpoint})
            url = stack.url(f"sandbox-{sid}.atelier.test", "/")
            started = time.perf_counter()
            await stack.proxy.sandbox_running(sid, {"code": recorder.endpoint})
            register.append(time.perf_counter() - started)
            live.append(register[-1] + await first_ok(url, bearer, context))
            urls.append(url)
        proxied: list[float] = []
        async with await stack.client() as client:
            for index in range(200):
                started = time.perf_counter()
                response = await client.get(urls[index % len(urls)], headers=bearer)
                proxied.append(time.perf_counter() - started)
                assert response.status_code == 200
        direct: list[float] = []
        async with httpx.AsyncClient() as plain:
            for _ in range(200):
                started = time.perf_counter()
                await plain.get(f"http://127.0.0.1:{recorder.port}/")
                direct.append(time.perf_counter() - started)
    return {
        "tls": tls,
        "sandboxes": n,
        "route_live": summary(live),
        "register_call": summary(register),
        "request_via_proxy_p50_ms": ms(statistics.median(proxied)),
        "request_direct_p50_ms": ms(statistics.median(direct)),
    }


async def main(n: int) -> None:
    recorder = Recorder()
    try:
        plain = await run_mode("off", n, recorder)
        internal = await run_mode("internal", n, recorder)
    finally:
        recorder.close()
    for result in (plain, internal):
        label = "HTTP route-live" if result["tls"] == "off" else "first HTTPS 200 (tls internal)"
        live = result["route_live"]
        print(
            f"{label:32} p50 {live['p50_ms']:7.2f} ms  p90 {live['p90_ms']:7.2f} ms"
            f"  max {live['max_ms']:7.2f} ms  (n={n})"
        )
        print(
            f"{'':32} register call p50 {result['register_call']['p50_ms']:.2f} ms;"
            f" request via proxy p50 {result['request_via_proxy_p50_ms']:.2f} ms"
            f" vs direct {result['request_direct_p50_ms']:.2f} ms"
        )
    print(
        json.dumps(
            {
                "benchmark": "routes",
                "sandboxes": n,
                "route_live_http_p50_ms": plain["route_live"]["p50_ms"],
                "first_https_internal_p50_ms": internal["route_live"]["p50_ms"],
                "register_call_p50_ms": plain["register_call"]["p50_ms"],
                "request_via_proxy_p50_ms": internal["request_via_proxy_p50_ms"],
                "request_direct_p50_ms": internal["request_direct_p50_ms"],
                "details": [plain, internal],
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
