"""The values replay passes around: recorded turns, their baselines, and the results.

Results are pydantic models so a replay round-trips through its JSON report
(``Replay.model_validate_json(replay.model_dump_json())`` gives the same object back)
and through the mirror's ``replays``/``replay_turns`` tables.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# Turn outcomes. Only ``regression`` and ``missing_tool`` make `syncer replay` exit 3;
# ``error`` makes it exit 1; the others are reported but never fail a build.
TurnStatus = Literal[
    "pass",            # trajectory identical and similarity >= threshold (--judge: the judge's pass)
    "regression",      # trajectory differs or similarity < threshold (--judge: the judge's fail)
    "missing_tool",    # the new run asked for a tool call with no recorded output (--on-missing-tool fail)
    "no_baseline",     # trailing user messages with no recorded run: replayed, never judged
    "not_replayable",  # the recorded run used code_interpreter / file_search
    "error",           # the server failed, the run did not settle in time, or the judge failed
    "planned",         # --dry-run: what would be sent
]
FAILING_STATUSES = frozenset({"regression", "missing_tool"})
SIMILARITY_METRIC = "difflib.SequenceMatcher.ratio over whitespace-collapsed text"


class ToolCall(BaseModel):
    """One tool call of a run: its name, arguments (canonical JSON) and output."""

    type: str = "function"
    name: str = ""
    arguments: str = ""
    output: str | None = None
    call_id: str | None = None


class InputMessage(BaseModel):
    """A message the replay adds to the new thread before a turn's run."""

    id: str | None = None
    role: str = "user"
    text: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class Outcome(BaseModel):
    """What one run produced: recorded (baseline) or new."""

    run_id: str | None = None
    assistant_id: str | None = None
    model: str | None = None
    status: str | None = None
    reply: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
    duration_s: float | None = None
    last_error: dict[str, Any] | None = None


class Turn(BaseModel):
    """One turn of a recorded thread: its input messages and what the recorded run produced.

    ``baseline`` is None for trailing messages that no recorded run answered.
    """

    thread_id: str
    index: int
    messages: list[InputMessage] = Field(default_factory=list)
    baseline: Outcome | None = None
    replayable: bool = True
    reason: str | None = None  # why a turn is not replayable
    # Run-level parameters the recorded run was created with and that replay sends again
    # (see `select.recorded_run_settings`): part of what the recorded run saw.
    run_settings: dict[str, Any] = Field(default_factory=dict)


class TrajectoryDiff(BaseModel):
    """How the new run's tool calls differ from the recorded ones (names, args, order, count)."""

    identical: bool
    recorded: list[str] = Field(default_factory=list)  # "name(canonical args)" in order
    new: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)  # recorded but not made now
    extra: list[str] = Field(default_factory=list)    # made now but not recorded
    order_changed: bool = False
    count_recorded: int = 0
    count_new: int = 0


class Verdict(BaseModel):
    """An LLM judge's grade of a turn's new reply against the recorded one (``--judge``).

    ``passed`` is None when the judge failed (``error`` says why; the turn is then an
    ``error``, never a pass). Scores are the rubric's 1-5 for each reply; ``reason`` is the
    judge's one line. ``order`` is the blind A/B order the judge saw the replies in.
    """

    passed: bool | None = None
    score: int | None = None           # the new reply's score (1-5)
    recorded_score: int | None = None  # the recorded reply's score (1-5)
    reason: str = ""
    model: str = ""
    rubric: str = ""                   # the rubric's version id
    order: Literal["recorded-first", "new-first"] | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        """``pass``, ``fail`` or ``error``: what tables and the mirror show."""
        if self.error is not None or self.passed is None:
            return "error"
        return "pass" if self.passed else "fail"


class TurnResult(BaseModel):
    """A replayed turn, compared with its baseline."""

    thread_id: str
    index: int
    status: TurnStatus
    messages: list[InputMessage] = Field(default_factory=list)
    recorded: Outcome | None = None
    new: Outcome | None = None
    similarity: float | None = None
    metric: str = SIMILARITY_METRIC
    trajectory: TrajectoryDiff | None = None
    new_thread_id: str | None = None
    detail: str | None = None  # the error, the missing call, or why the turn is not replayable
    run_settings: dict[str, Any] = Field(default_factory=dict)  # recorded run-level parameters sent
    judge: Verdict | None = None  # --judge: the judge's verdict (None: not judged)

    @property
    def name(self) -> str:
        """The test-case name used in reports: ``turn N``."""
        return f"turn {self.index + 1}"


class ThreadResult(BaseModel):
    """Every turn of one recorded thread."""

    thread_id: str
    new_thread_id: str | None = None
    turns: list[TurnResult] = Field(default_factory=list)
    error: str | None = None


class Summary(BaseModel):
    """Counts over a whole replay."""

    threads: int = 0
    turns: int = 0
    passed: int = 0
    regressions: int = 0
    missing_tool: int = 0
    no_baseline: int = 0
    not_replayable: int = 0
    errors: int = 0
    planned: int = 0
    runs: int = 0  # runs created (or, for --dry-run, that would be created)
    judged: int = 0  # --judge: turns the judge was asked about (failed judgements included)


class Replay(BaseModel):
    """A whole replay: options, per-thread results and the summary."""

    id: str
    status: Literal["running", "complete", "interrupted", "error", "dry_run"] = "running"
    started_at: float
    finished_at: float | None = None
    base_url: str | None = None
    target: str | None = None  # what --assistant named, or None for "each turn's own assistant"
    api: Literal["assistants", "responses"] = "assistants"  # --api: the API replayed on
    options: dict[str, Any] = Field(default_factory=dict)
    threshold: float = 0.8
    metric: str = SIMILARITY_METRIC
    threads: list[ThreadResult] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)
    error: str | None = None

    def all_turns(self) -> list[TurnResult]:
        return [turn for thread in self.threads for turn in thread.turns]
