"""A fake LLM judge for `syncer replay --judge`, served by the strict fake Chat Completions server.

    with FakeChatServer(grading(lambda reply: 5 if "Sunny" in reply else 1)) as judge:
        ...  # SYNCER_JUDGE_BASE_URL=judge.base_url

`grading(score)` answers each judge request with the verdict object, scoring the two replies
it was shown (``## Reply A`` / ``## Reply B`` of the request's last message) with ``score``.
The server checks the request like the real endpoint (``response_format`` strict schema
included) and records it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fakes.chat_server import Reply

from syncer.replay.judge import blind_order

_SECTION = re.compile(r"^## Reply ([AB])\n(.*?)(?=\n\n## |\Z)", re.DOTALL | re.MULTILINE)


def replies_shown(body: dict[str, Any]) -> dict[str, str]:
    """``{"A": text, "B": text}``: the replies a judge request showed."""
    return dict(_SECTION.findall(body["messages"][-1]["content"]))


def verdict(score_a: int, score_b: int, reason: str = "Reply A and Reply B differ.") -> Reply:
    """A judge's answer as the structured output it was asked for."""
    return Reply(text=json.dumps({"reply_a_score": score_a, "reply_b_score": score_b,
                                  "reason": reason}))


def grading(score: Callable[[str], int], reason: str = "Reply A says {A}; Reply B says {B}.") -> Callable[[dict[str, Any]], Reply]:
    """A judge that scores each shown reply with ``score(text)``."""

    def answer(body: dict[str, Any]) -> Reply:
        shown = replies_shown(body)
        a, b = score(shown["A"]), score(shown["B"])
        return verdict(a, b, reason.format(A=a, B=b))

    return answer


def scripted(thread_id: str, index: int, new: int, recorded: int) -> Reply:
    """The judge's answer giving the new reply ``new`` and the recorded one ``recorded``,
    placed in the blind order the judge is shown them."""
    if blind_order(thread_id, index) == "recorded-first":
        return verdict(recorded, new, f"Reply A scores {recorded}, Reply B scores {new}.")
    return verdict(new, recorded, f"Reply A scores {new}, Reply B scores {recorded}.")
