"""`syncer demo`: the whole product in one command, offline.

Starts the emulator in-process on a free loopback port with the sample account shipped in
`syncer/data/`, then walks through each capability in turn. Each step is a function that
takes the `Demo` context; capabilities append their step to `STEPS`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console


@dataclass
class Demo:
    """What every demo step gets: the console, the running server and a scratch folder."""

    console: Console
    base_url: str
    api_key: str
    workdir: Path
    notes: dict[str, object] = field(default_factory=dict)


Step = Callable[[Demo], None]
STEPS: list[tuple[str, Step]] = []


def step(title: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        STEPS.append((title, fn))
        return fn

    return register


def run_demo(console: Console | None = None) -> int:
    """Run every step against a fresh in-process emulator; returns the exit code."""
    from syncer.emulator import EmulatorConfig, running_server
    from syncer.emulator.generate import sample_account_path

    console = console or Console()
    api_key = "sk-demo-local"
    with (
        tempfile.TemporaryDirectory(prefix="syncer-demo-") as tmp,
        running_server(EmulatorConfig(load=sample_account_path(), run_ms=50)) as server,
    ):
        demo = Demo(console=console, base_url=server.base_url, api_key=api_key, workdir=Path(tmp))
        console.print(f"[bold]syncer demo[/bold] — emulator at {server.base_url}")
        for number, (title, fn) in enumerate(STEPS, 1):
            console.rule(f"{number}. {title}")
            fn(demo)
        console.rule("done")
    return 0


# --- steps, in the order the product is told: list → mirror → gitops → replay → restore ---


@step("The sample account, listed through the client")
def list_account(demo: Demo) -> None:
    import asyncio

    from rich.table import Table

    from syncer.client import AssistantsClient
    from syncer.settings import ClientSettings

    async def fetch() -> list:
        settings = ClientSettings.from_env(base_url=demo.base_url, api_key=demo.api_key)
        async with AssistantsClient(settings) as client:
            return [a async for a in client.list_assistants(order="asc")]

    table = Table("id", "name", "model", "tools")
    for assistant in asyncio.run(fetch()):
        tools = ", ".join(t.type for t in assistant.tools) or "-"
        table.add_row(assistant.id, assistant.name or "", assistant.model, tools)
    demo.console.print(table)


# --- mirror ---

# --- gitops ---

# --- replay ---

# --- restore ---
