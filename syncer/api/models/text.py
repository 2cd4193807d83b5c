"""The plain text of a message: the one definition the mirror, replay and the emulator share."""

from __future__ import annotations

from typing import Any


def message_text(content: Any) -> str:
    """The plain text of a message's ``text`` parts (its ``content`` list), joined by blank lines.

    Images and other parts are not text; anything malformed is skipped, never an error (the
    content may come from any server).
    """
    if not isinstance(content, list):
        return ""
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            text = part.get("text")
            value = text.get("value") if isinstance(text, dict) else text
            if isinstance(value, str):
                parts.append(value)
    return "\n\n".join(parts)
