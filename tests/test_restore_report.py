"""`restore --json` after a real restore: the plan as it was and what was done, never a
negative count (it used to report "writes": -176 beside 1,047 messages created)."""

from __future__ import annotations

from support.restore import restore

from syncer.emulator import EmulatorConfig, running_server


def numbers(value, path=""):
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from numbers(item, f"{path}[{n}]")


def test_the_report_holds_the_plan_as_it_was_and_what_was_done(source_copy):
    db, _ids = source_copy
    with running_server(EmulatorConfig()) as target:
        _, dry = restore(db, target.base_url, "--dry-run")
        code, report = restore(db, target.base_url, "--yes")
    assert code == 0, report
    assert [(path, n) for path, n in numbers(report) if n < 0] == []
    for key in ("assistants", "threads", "messages", "requests"):
        assert report[key] == dry[key], key
    assert report["created"]["messages"] == dry["messages"]["create"] > 0
    assert report["created"]["threads"] == dry["threads"]["create"] > 0
    assert report["created"]["assistants"] == dry["assistants"]["create"] > 0
    assert report["requests"]["writes"] > 0
