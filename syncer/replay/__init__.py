"""`syncer replay`: re-execute recorded threads against an assistant and report what changed.

    select.py   threads and turns from the mirror (never the server)
    runner.py   turn by turn on a new thread, answering tool calls with recorded outputs
    compare.py  similarity, tool-call trajectory diff, verdicts, exit codes
    records.py  the mirror's `replays` and `replay_turns` tables
    report.py   terminal table, JSON, JUnit XML, Markdown
"""
