"""The `syncer` command line: glue over the library. The only module that knows click.

Conventions (like sqlite-utils, llm, terraform): data on stdout, progress and status on
stderr, `--json` for machine-readable output, `-s/--silent`, and exit codes CI can act on.

`SyncerGroup.main` is the one error boundary. Every `SyncerError` and every usage error (a
wrong flag, a bad value) becomes one line on stderr and exit 1 — never click's 2, which
`plan --detailed-exitcode` uses for "changes present". Ctrl-C and SIGTERM (handled like
Ctrl-C, so a stopped sync or replay records itself `interrupted`) exit 130. With `--json`, a
failure also prints `{"error": {...}}` on stdout. Nothing else is caught: a bug keeps its
traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import gc
import importlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

try:  # the faster event loop where it exists (not on Windows): 5-10 % less CPU per sync
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

from syncer.api.settings import ClientSettings
from syncer.errors import APIError, APIStatusError, ConfigError, SyncerError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


#: Exit codes every command shares (the README's table adds each command's own).
EXIT_ERROR = 1  # an error, including usage errors
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


#: Which module defines each command: `syncer sync` imports the mirror's commands only, not
#: the emulator, replay or gitops (start-up is part of every command's cost).
COMMAND_MODULES = {
    "sync": "mirror", "threads": "mirror", "search": "mirror", "show": "mirror",
    "status": "mirror", "plan": "gitops", "apply": "gitops", "import": "gitops",
    "watch": "gitops", "backup": "archive", "export": "archive", "load": "archive",
    "restore": "archive", "demo": "emulator", "emulator": "emulator", "replay": "replay",
    "migrate": "migrate",
}


def error_object(error: BaseException) -> dict[str, Any]:
    """The ``{"error": {...}}`` a failed command prints on stdout under ``--json``."""
    if _interrupted(error):
        return {"error": {"type": "Interrupted", "message": "interrupted",
                          "exit_code": EXIT_INTERRUPTED}}
    if isinstance(error, click.Abort):
        return {"error": {"type": "Aborted", "message": "no answer at the prompt (end of input)",
                          "exit_code": EXIT_ERROR}}
    if isinstance(error, click.ClickException):
        detail: dict[str, Any] = {"type": "UsageError", "message": error.format_message()}
    else:
        detail = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, ConfigError):
        detail["problems"] = error.problems
    if isinstance(error, APIError):
        detail["request_id"] = error.request_id
    if isinstance(error, APIStatusError):
        detail |= {"status_code": error.status_code, "code": error.code, "param": error.param}
    detail["exit_code"] = EXIT_ERROR
    return {"error": detail}


def _interrupted(error: BaseException) -> bool:
    """Ctrl-C (or SIGTERM), also when a prompt turned it into click's Abort."""
    return isinstance(error, KeyboardInterrupt) or (
        isinstance(error, click.Abort) and isinstance(error.__context__, KeyboardInterrupt)
    )


def _wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for --json (looked up in the words, so that a usage error
    found before the options are parsed is reported as JSON too)."""
    words = list(args)
    return "--json" in (words[: words.index("--")] if "--" in words else words)


@contextlib.contextmanager
def _sigterm_as_sigint() -> Iterator[None]:
    """While a command runs, SIGTERM does what Ctrl-C does (asyncio's handler included)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class SyncerGroup(click.Group):
    """The group, and the one error boundary (see the module docstring); a command's module
    is imported when that command is used (``COMMAND_MODULES``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            # The module registers its commands on this group as it is imported.
            importlib.import_module(f"syncer.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        words = list(sys.argv[1:] if args is None else args)
        try:
            with _sigterm_as_sigint():
                code = super().main(words, prog_name, complete_var, standalone_mode=False,
                                    **extra)
        except (KeyboardInterrupt, click.Abort) as error:
            if not _interrupted(error):
                _fail(error, words, "Error: no answer at the prompt (end of input)")
            _fail(error, words, "Interrupted.", EXIT_INTERRUPTED)
        except ConfigError as error:
            _fail(error, words, "\n".join(f"Error: {p}" for p in error.problems))
        except SyncerError as error:
            _fail(error, words, f"Error: {error}")
        except click.ClickException as error:
            if _wants_json(words):
                click.echo(json.dumps(error_object(error), indent=2))
            error.show()
            sys.exit(EXIT_ERROR)
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            sys.exit(EXIT_ERROR)  # stdout closed under us (`syncer search x | head`)
        # --help, --version and ctx.exit(n) give their code; a command that returns, 0.
        sys.exit(code if isinstance(code, int) else 0)


def _fail(error: BaseException, words: Sequence[str], text: str,
          code: int = EXIT_ERROR) -> NoReturn:
    if _wants_json(words):
        data = error_object(error)
        data["error"]["exit_code"] = code
        click.echo(json.dumps(data, indent=2, default=str))
    click.echo(text, err=True)
    sys.exit(code)


@click.group(cls=SyncerGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(None, "--version", package_name="syncer", prog_name="syncer")
def cli() -> None:
    """Mirror, manage, replay and migrate Assistants API (v2) accounts, and leave them for the
    Responses API with Conversations.

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


#: Allocations between the cyclic garbage collector's young-generation passes (Python's
#: default is 700). A sync allocates a dict per object and frees it by reference counting; at
#: the default the collector ran a thousand times and scanned every live object about ten
#: times in a sync of 74,080 objects: 1.6 s of its CPU, in pauses of up to 140 ms.
GC_THRESHOLD = (50_000, 20, 10)


def spare_the_collector() -> None:
    """Move everything loaded so far out of the cyclic collector's way (``gc.freeze``) and let
    it run less often (`GC_THRESHOLD`): for a command's long-running work (a sync, a server)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def run_async(fn: F) -> F:
    """Run an async command body on uvloop (asyncio's own loop where uvloop is not installed);
    the modules it needs are loaded by now, so they are moved out of the collector's way
    (`spare_the_collector`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        spare_the_collector()
        if uvloop is not None:
            return uvloop.run(fn(*args, **kwargs))
        return asyncio.run(fn(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def status(message: str, silent: bool = False) -> None:
    """A status line on stderr."""
    if not silent:
        click.echo(message, err=True)


def confirm_on_terminal(verb: str, yes: bool) -> Callable[[str], bool]:
    """The confirmation a library flow asks before it writes: yes with ``--yes``, else the
    terminal's answer; without a terminal it refuses (a script must say ``--yes``)."""

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to {verb} without --yes: stdin is not a terminal")
        return click.confirm(question, err=True)

    return confirm
