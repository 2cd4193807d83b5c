"""The gitops tests' server view (raw HTTP beside syncer) and the CLI run in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from syncer.cli import cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TEAM = FIXTURES / "configs" / "team"
BAD = FIXTURES / "bad-configs"
KEY = "sk-gitops-test"


class Server:
    """The emulator, with raw HTTP helpers that bypass syncer entirely."""

    def __init__(self, running: Any):
        self.base_url = running.base_url
        self.root = running.base_url.removesuffix("/v1")
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "assistants=v2"}, timeout=30
        )

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.http.request(method, self.base_url + path, json=body)
        response.raise_for_status()
        return response

    def stats(self) -> dict[str, Any]:
        return self.http.get(self.root + "/_emulator/stats").json()

    def faults(self, spec: dict[str, Any]) -> None:
        self.http.post(self.root + "/_emulator/faults", json=spec).raise_for_status()

    def assistants(self) -> list[dict[str, Any]]:
        found, after = [], None
        while True:
            params = {"order": "asc", "limit": 100, **({"after": after} if after else {})}
            page = self.http.get(self.base_url + "/assistants", params=params).json()
            found += page["data"]
            if not page["has_more"]:
                return found
            after = page["last_id"]

    def managed(self) -> dict[str, list[str]]:
        """syncer:name → ids of the assistants carrying that marker."""
        out: dict[str, list[str]] = {}
        for a in self.assistants():
            marker = (a.get("metadata") or {}).get("syncer:name")
            if marker:
                out.setdefault(marker, []).append(a["id"])
        return out


def syncer(
    server: Server, *args: str, input: str | None = None, default_retries: bool = False
) -> Result:
    """The CLI in-process. Retries are off unless ``default_retries`` (then the user's
    defaults, with the backoff shortened so that no test waits out a real delay)."""
    env: dict[str, str | None] = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": KEY}
    if default_retries:
        env |= {"SYNCER_MAX_RETRIES": None, "SYNCER_RETRY_BASE_DELAY": "0.001"}
    else:
        env["SYNCER_MAX_RETRIES"] = "0"
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
