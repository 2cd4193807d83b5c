"""The `syncer` command line: glue over the library. The only module that knows click.

Conventions (like sqlite-utils, llm, terraform): data on stdout, progress and status on
stderr, `--json` for machine-readable output, `-s/--silent`, and exit codes CI can act on.
Every `SyncerError` becomes one line on stderr and exit 1; nothing else is caught.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from syncer import __version__
from syncer.api.settings import ClientSettings
from syncer.errors import ConfigError, SyncerError

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SyncerGroup(click.Group):
    """A group whose commands report `SyncerError`s as one line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            for problem in error.problems:
                click.echo(f"Error: {problem}", err=True)
            ctx.exit(1)
        except SyncerError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(1)


@click.group(cls=SyncerGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="syncer")
def cli() -> None:
    """Mirror, manage and replay Assistants API (v2) accounts.

    Point syncer at an Assistants-compatible server with OPENAI_BASE_URL and
    OPENAI_API_KEY, or run one locally with `syncer emulator`.
    """


# --- shared options ------------------------------------------------------------------


def connection_options(fn: F) -> F:
    """--base-url/--api-key/--max-retries/--timeout; defaults come from the environment."""
    options = [
        click.option(
            "--base-url",
            envvar="OPENAI_BASE_URL",
            help="Server URL, e.g. http://127.0.0.1:8000/v1  [env: OPENAI_BASE_URL]",
        ),
        click.option(
            "--api-key",
            envvar="OPENAI_API_KEY",
            show_envvar=False,
            help="API key (prefer the OPENAI_API_KEY environment variable).",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(0, 100),
            envvar="SYNCER_MAX_RETRIES",
            help="Retries for 408/409/429/5xx and dropped connections (default 5).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(0, min_open=True),
            envvar="SYNCER_TIMEOUT",
            help="Seconds for one whole response, not each read (default 600).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def client_settings(base_url: str | None, api_key: str | None, max_retries: int | None,
                    timeout: float | None) -> Any:
    """ClientSettings from the environment, overridden by the options that were given."""

    overrides: dict[str, Any] = {}
    if base_url:
        overrides["base_url"] = base_url
    if api_key:
        overrides["api_key"] = api_key
    if max_retries is not None:
        overrides["max_retries"] = max_retries
    if timeout is not None:
        overrides["timeout"] = timeout
    return ClientSettings.from_env(**overrides)


db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default="syncer.db",
    envvar="SYNCER_DB",
    show_default=True,
    help="The mirror database  [env: SYNCER_DB]",
)
lock_timeout_option = click.option(
    "--lock-timeout", type=click.FloatRange(0), default=0, show_default=True, metavar="SECONDS",
    help="Wait this long for another run of this command on the same mirror to finish "
         "(0: refuse at once, naming it).")
json_option = click.option("--json", "json_", is_flag=True, help="Machine-readable output.")
silent_option = click.option("-s", "--silent", is_flag=True, help="No progress on stderr.")
allow_env_option = click.option(
    "--allow-env", "allow_env", multiple=True, metavar="NAME",
    help="Let configs read ${NAME} besides SYNCER_VAR_* variables (repeatable; never OPENAI_* "
         "or a key).",
)


def run_async(fn: F) -> F:
    """Run an async command body with asyncio."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def status(message: str, silent: bool = False) -> None:
    """A status line on stderr."""
    if not silent:
        click.echo(message, err=True)
