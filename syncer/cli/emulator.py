"""`syncer demo` and `syncer emulator`."""

from __future__ import annotations

import sys

import click

from syncer.cli.demo import run_demo
from syncer.cli.main import cli, spare_the_collector, status
from syncer.emulator import EmulatorConfig, serve_forever
from syncer.emulator.backends.chat import KEY_VARIABLE, NO_KEY, ChatBackend, backend_settings
from syncer.emulator.generate import sample_account_path
from syncer.emulator.options import DEFAULT_RUN_MS

# --- demo --------------------------------------------------------------------------------


@cli.command()
def demo() -> None:
    """Show the whole product on a local emulator with a sample account (no network)."""

    sys.exit(run_demo())


# --- emulator ------------------------------------------------------------------------------


@cli.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port (0: any free port).")
@click.option("--api-key", envvar="SYNCER_EMULATOR_API_KEY", show_envvar=False,
              help="Accept only this key, on /v1 and on the /_emulator/* controls (default: any "
                   "non-empty key). Prefer the SYNCER_EMULATOR_API_KEY environment variable: "
                   "a flag's value shows in `ps` to every user of the machine.")
@click.option("--latency-ms", type=click.FloatRange(0), default=0, show_default=True,
              help="Added to every /v1 response.")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of /v1 requests answered with 429, 500, 503 or a dropped connection.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault injection.")
@click.option("--run-ms", type=click.FloatRange(0), default=None,
              help="How long a run takes from queued to done (default 200).")
@click.option("--no-stream", is_flag=True, help="Answer `stream: true` with a 400 naming `stream`.")
@click.option("--load", "load_path", type=click.Path(dir_okay=False),
              help="Start with the objects of an account file (JSON).")
@click.option("--sample", is_flag=True, help="Start with the sample account (the demo's).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False),
              help="Keep every object in this SQLite file across restarts (default: in memory).")
@click.option("--backend", "backend_url", metavar="URL",
              help="Run assistants on this OpenAI-compatible Chat Completions API (its …/v1 base "
                   "URL); its key comes from SYNCER_BACKEND_API_KEY.")
@click.option("--backend-model", metavar="NAME",
              help="Send every completion to this model (runs still show the model asked for).")
def emulator_command(host: str, port: int, api_key: str | None, latency_ms: float,
                     fault_rate: float, seed: int, run_ms: float | None, no_stream: bool,
                     load_path: str | None, sample: bool, state_path: str | None,
                     backend_url: str | None, backend_model: str | None) -> None:
    """Serve a local Assistants API v2, Responses and Conversations (the emulator) until Ctrl-C.

    Point clients at the printed base URL, e.g. OPENAI_BASE_URL=http://127.0.0.1:8000/v1.
    Runs and responses are answered by a deterministic model, or with --backend by a real one.
    """

    if load_path and sample:
        raise click.UsageError("give either --load FILE or --sample, not both")
    if backend_model and not backend_url:
        raise click.UsageError("--backend-model needs --backend URL")
    backend = None
    if backend_url:
        backend = ChatBackend(backend_settings(backend_url), model=backend_model or None)
    config = EmulatorConfig(
        api_key=api_key or None,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        seed=seed,
        run_ms=DEFAULT_RUN_MS if run_ms is None else run_ms,
        stream=not no_stream,
        load=str(sample_account_path()) if sample else load_path,
        state=state_path,
        backend=backend,
    )

    def announce(base_url: str) -> None:
        key_note = "this --api-key only" if config.api_key else "any API key"
        model_note = f"; runs on {backend.settings.base_url}" if backend is not None else ""
        status(f"syncer emulator serving {base_url} ({key_note}{model_note}; Ctrl-C to stop)")
        if backend is not None and backend.settings.secret() == NO_KEY \
                and backend.settings.base_url.startswith("https://"):
            status(f"note: {KEY_VARIABLE} is not set, so {backend.settings.base_url} gets no key "
                   "(its runs will fail if it needs one)")

    # A run allocates thousands of objects and frees them by reference counting: at Python's
    # default threshold the collector made a young pass every run or two, and full passes
    # over every loaded module.
    spare_the_collector()
    serve_forever(config, host=host, port=port, announce=announce)
    status("syncer emulator stopped")
