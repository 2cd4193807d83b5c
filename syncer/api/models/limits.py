"""The Assistants API's limits and status sets, as the real service enforced them.

Mirrored in ``schema/openapi.yaml`` (``tests/test_openapi.py`` keeps the two in agreement).
"""

from __future__ import annotations

from typing import Literal

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 512
MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 512
MAX_INSTRUCTIONS_LENGTH = 256_000
MAX_TOOLS = 128
MAX_RUN_TOOLS = 20
MAX_CODE_INTERPRETER_FILES = 20
MAX_VECTOR_STORES = 1
FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.0, 2.0
MIN_TOP_P, MAX_TOP_P = 0.0, 1.0
MIN_RUN_TOKENS = 256  # max_prompt_tokens / max_completion_tokens lower bound of the real API
MIN_FILE_SEARCH_RESULTS, MAX_FILE_SEARCH_RESULTS = 1, 50

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
RUN_STATUSES: tuple[str, ...] = RunStatus.__args__  # type: ignore[attr-defined]
#: Statuses in which a run keeps its thread busy (new messages and runs are refused).
ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
#: Statuses a run never leaves.
FINAL_RUN_STATUSES = frozenset({"cancelled", "failed", "completed", "incomplete", "expired"})

RunStepStatus = Literal["in_progress", "cancelled", "failed", "completed", "expired"]
MessageStatus = Literal["in_progress", "incomplete", "completed"]
ImageDetail = Literal["auto", "low", "high"]
