"""A task end to end in a booted dev-base sandbox, with the real OpenCode inside it.

`atelier serve` runs as its own process; the guest's OpenCode talks to the scripted model
server on the host's loopback through the user network driver's guest forward. The task
goes draft → queued → starting → running by itself; the manager is SIGKILLed and started
again while the model holds its first answer; the task still reaches `review` with its
branch, the prompt rendered from the template, its todos counted and the written file in
its diff stat. Then a review session asks permission to run a shell command: the request
shows in /api/attention with the command, the webhook receiver gets it, "allow once" through
the API lets the session go on, and the task returns to `review`.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from atelier.runtime.network.config import NetworkConfig
from tests.fakes.llm_server import Gate, Turn, bash, provider_config, todos, write_file
from tests.integration.manager.conftest import api, json_of
from tests.integration.tasks.conftest import Model, Webhook, running_manager, task_config, until
from tests.managerkit import HOST_IMAGES

pytestmark = [
    pytest.mark.vm,
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (HOST_IMAGES / "dev-base" / "manifest.json").exists(),
        reason="needs the dev-base image (atelier images build dev-base)",
    ),
]
SCRIPTED = {"name": "scripted", "model": "scripted/scripted"}
SHELL_CHECK = {
    "name": "Shell check",
    "category": "secondary",
    "description": "lists the working tree (asks permission to run a command)",
    "prompt": "[script:review] List the files of {directory} on {branch}.",
    "efforts": [SCRIPTED],
}


@pytest.mark.timeout(7200)
async def test_task_reaches_review_survives_a_manager_kill_and_asks_for_attention(
    tmp_path: Path, pool: Path, model: Model, webhook: Webhook, artifacts_dir: Path
) -> None:
    gate = Gate()
    model.scripted.scripts["implement"] = [
        Turn(
            text="planning",
            tools=(todos(("write greeting", "in_progress"), ("check", "pending")),),
            gate=gate,
        ),
        Turn(tools=(write_file("greeting.txt", "hello from the task\n"),)),
        Turn(tools=(todos(("write greeting", "completed"), ("check", "completed")),)),
    ]
    model.scripted.scripts["review"] = [Turn(tools=(bash("ls -a > listing.txt", "list"),))]
    # OpenCode (a Bun binary) needs minutes to start under TCG emulation.
    config = task_config(
        tmp_path,
        pool,
        model_port=model.port,
        webhook=webhook.url,
        ready_timeout_s=3000,
        request_timeout_s=900,
        reread_min_interval_s=15,
    )
    services = NetworkConfig().user_services_addr
    async with running_manager(config, tmp_path, artifacts_dir) as running:
        client = await api(running.manager.url, running.admin.token)
        async with client:
            opencode = provider_config(f"http://{services}:{model.port}/v1")
            opencode["permission"] = {"bash": "ask"}
            put = {"path": "~/.config/opencode/opencode.json", "content": _json(opencode)}
            json_of(await client.put("/api/opencode-config", json=put))
            implement = {"efforts": [SCRIPTED], "defaultEffort": "scripted"}
            json_of(await client.put("/api/session-templates/implement", json=implement))
            json_of(await client.put("/api/session-templates/shell-check", json=SHELL_CHECK))

            body = {"title": "Greeting file", "prompt": "[script:implement] Write greeting.txt."}
            task = json_of(await client.post("/api/tasks", json=body))
            assert task["status"] == "draft"
            task_id = task["id"]
            assert json_of(await client.post(f"/api/tasks/{task_id}/start"))["status"] in {
                "queued",
                "starting",
            }
            path = f"/api/tasks/{task_id}"
            task = await until(client, path, _status("running"), "running", within=3600)
            assert task["branch"] == f"task/{task_id}"
            sandbox_id = task["sandboxId"]
            assert await asyncio.to_thread(gate.reached.wait, 1800), "no model request"

        # Kill the manager while the model holds its answer, then start it again.
        running.manager.kill(signal.SIGKILL)
        assert running.manager.process is not None
        await running.manager.process.wait()
        await running.manager.start()
        gate.open()

        async with await api(running.manager.url, running.admin.token) as client:
            task = await until(
                client, path, _status("review"), "review after the restart", within=3600
            )
            progress = task["progress"]
            assert progress["todos"]["total"] == 2 and progress["todos"]["done"] == 2
            files = {f["path"]: f for f in progress["diff"]["files"]}
            assert files["greeting.txt"]["added"] == 1, progress["diff"]
            assert "Greeting file" in task["renderedPrompt"]
            assert f"task/{task_id}" in task["renderedPrompt"]
            assert any(
                task["renderedPrompt"].strip() in p
                for p in model.scripted.prompt_texts("implement")
            )
            branch = await _exec(
                client, sandbox_id, ["git", "-C", task["directory"], "branch", "--show-current"]
            )
            assert branch.strip() == f"task/{task_id}"
            statuses = [
                e["data"]["status"]
                for e in webhook.received
                if e["event"] == "task.status" and e["data"]["id"] == task_id
            ]
            assert statuses[-1] == "review" and "running" in statuses, statuses

            # A review session asks to run a command: answer it through the attention feed.
            review = {"templateId": "shell-check", "launch": "now"}
            json_of(await client.post(f"/api/tasks/{task_id}/sessions", json=review))
            items = await until(
                client, "/api/attention", bool, "a permission request", within=3600, every=0.5
            )
            item = items[0]
            assert item["kind"] == "permission" and item["sandboxId"] == sandbox_id
            assert item["detail"] == "ls -a > listing.txt"
            assert item["taskId"] == task_id
            answered = await client.post(
                f"/api/attention/{item['id']}/reply", json={"reply": "once"}
            )
            assert answered.status_code == 204, answered.text
            assert any(
                e["event"] == "attention.created" and e["data"]["id"] == item["id"]
                for e in webhook.received
            )
            task = await until(client, path, _settled, "review after the shell check", within=3600)
            assert (await client.get("/api/attention")).json() == []
            listing = await _exec(client, sandbox_id, ["cat", f"{task['directory']}/listing.txt"])
            assert "greeting.txt" in listing


def _status(wanted: str) -> Any:
    def check(task: dict[str, Any]) -> bool:
        assert task["status"] != "failed", task["error"]
        return bool(task["status"] == wanted)

    return check


def _settled(task: dict[str, Any]) -> bool:
    sessions = task["sessions"]
    return task["status"] == "review" and all(s["promptedAt"] for s in sessions)


async def _exec(client: Any, sandbox_id: str, argv: list[str]) -> str:
    result = json_of(
        await client.post(f"/api/sandboxes/{sandbox_id}/exec", json={"argv": argv, "user": "dev"})
    )
    assert result["exitCode"] == 0, result
    return str(result["stdout"])


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2)
