"""Filling a mirror the way users do: the real `syncer sync` command."""

from __future__ import annotations

from click.testing import CliRunner

from syncer.cli import cli


def sync(db, base_url: str, key: str, thread_ids) -> None:
    """Mirror a server with `syncer sync` (the real command)."""
    args = ["sync", "--db", str(db), "--base-url", base_url, "--api-key", key, "-s"]
    for thread_id in thread_ids:
        args += ["--thread", thread_id]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
