"""Diff validated configs against the live account: what `syncer apply` would do.

The account is the state (no local state file): every assistant is classified by its metadata.

- managed: ``metadata["syncer:name"]`` names the config it belongs to, within the ownership
  scope ``metadata["syncer:scope"]`` (absent: the unscoped directory's). A plan sees only its
  own scope: another scope's assistants are never changed, conflicts or pruned. Assistants
  managed before scopes existed (no ``syncer:scope``) are claimed by a scoped directory that
  has their config (an update adds the scope) and are never pruned by one;
- replay temporaries (``syncer:replay``): ignored entirely;
- unmanaged: everything else. syncer never touches these, except through ``apply --adopt``
  when one has exactly the name of a config (without ``--adopt`` that is a conflict).

Comparison rules: JSON values (tools, tool_resources, response_format, metadata) are compared
structurally, so key order and formatting never count; values the server fills in on its own
(``temperature: 1.0``, ``response_format: "auto"``, ``strict: false``, empty lists …) are not
drift when the file leaves them out. A field the file leaves out but the server holds a
non-default value for is reset to the default.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from syncer import markers
from syncer.api.client import AssistantsClient
from syncer.canonical import canonical_json
from syncer.gitops.config import API_FIELDS, LoadedConfig

#: What the server holds for a field the create request left out (the real API's defaults).
SERVER_DEFAULTS: dict[str, Any] = {
    "description": None,
    "instructions": None,
    "tools": [],
    "tool_resources": {},
    "temperature": 1.0,
    "top_p": 1.0,
    "response_format": "auto",
    "metadata": {},
}

#: Nested values a server adds to what it was sent, by key, that do not count as drift.
_FILLED_NESTED: dict[str, Any] = {
    "ranking_options": [
        {"ranker": "auto", "score_threshold": 0.0},
        {"ranker": "default_2024_08_21", "score_threshold": 0.0},
    ],
}

ActionKind = Literal["create", "update", "adopt", "delete", "conflict"]


def is_empty(value: Any) -> bool:
    """None, false, or an empty string, list or object: what "not set" looks like in JSON."""
    return value is None or value is False or value == [] or value == {} or value == ""


def _server_filled(key: str, value: Any) -> bool:
    """Whether a key the file left out holds only what a server fills in by itself."""
    if is_empty(value) or value in _FILLED_NESTED.get(key, []):
        return True
    return isinstance(value, dict) and all(_server_filled(k, v) for k, v in value.items())


def same_value(desired: Any, live: Any) -> bool:
    """Whether ``live`` already satisfies ``desired``, ignoring what the server fills in."""
    if isinstance(desired, dict):
        live = {} if live is None else live
        if not isinstance(live, dict):
            return False
        for key, value in desired.items():
            if not same_value(value, live.get(key)):
                return False
        return all(key in desired or _server_filled(key, value) for key, value in live.items())
    if isinstance(desired, list):
        live = [] if live is None else live
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(same_value(d, v) for d, v in zip(desired, live, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        # An absent flag is false (strict, …): only true differs from it.
        if desired is None or live is None:
            return desired is not True and live is not True
        return desired is live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(desired) == float(live)
    return bool(desired == live)


@dataclass
class FieldChange:
    """One field that differs: the live value and the value the config wants."""

    field: str
    before: Any
    after: Any

    def render(self, source: str, creating: bool = False) -> list[str]:
        """Lines describing the change (indented by the caller).

        A new value is shown whole; a changed multi-line text or JSON value as a unified diff
        of its canonical form, so only what really changed is marked.
        """
        before, after = _as_text(self.before), _as_text(self.after)
        if creating:
            # The file holds the whole value; one line each keeps a plan of many creates short.
            return [f"{self.field}: {_short(self.after)}"]
        multi_line_text = any(isinstance(v, str) and "\n" in v for v in (self.before, self.after))
        one_line = f"{self.field}: {_short(self.before)} → {_short(self.after)}"
        if not multi_line_text and len(one_line) <= 120 and "..." not in one_line:
            return [one_line]
        return [f"{self.field}:", *_unified(before, after, source)]

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


def _as_text(value: Any) -> str:
    """Text to diff: strings as they are, JSON values in canonical form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return canonical_json(value, indent=2) + "\n"
    return json.dumps(value)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def _unified(before: str, after: str, source: str) -> list[str]:
    diff = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), "live", source, n=2
    )
    return [line.rstrip("\n") for line in diff]


@dataclass
class Action:
    """One step of a plan."""

    kind: ActionKind
    name: str
    assistant_id: str | None = None
    config: LoadedConfig | None = None
    changes: list[FieldChange] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)  # the request body apply sends
    message: str = ""
    scope: str | None = None  # the plan's ownership scope: apply checks the assistant still has it

    @property
    def source(self) -> str:
        return self.config.where if self.config else "no config"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.kind,
            "name": self.name,
            "assistant_id": self.assistant_id,
            "source": self.source if self.config else None,
            "changes": [c.to_json() for c in self.changes],
        }
        if self.message:
            data["message"] = self.message
        return data


@dataclass
class Plan:
    """Everything that differs between the configs and the account."""

    actions: list[Action]
    unchanged: list[str]
    unmanaged: int
    prune: bool
    scope: str | None = None
    other_scopes: int = 0  # managed assistants of other scopes (left alone)

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.kind != "conflict"]

    @property
    def conflicts(self) -> list[Action]:
        return [a for a in self.actions if a.kind == "conflict"]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind == kind)

    def summary(self) -> str:
        if not self.actions:
            return f"No changes: the account matches the configs ({len(self.unchanged)} managed assistants)."
        parts = [
            f"{self.count('create')} to create",
            f"{self.count('update')} to update",
            f"{self.count('adopt')} to adopt",
            f"{self.count('delete')} to delete",
        ]
        text = "Plan: " + ", ".join(parts) + "."
        if self.conflicts:
            text += f" {len(self.conflicts)} conflict(s) block their configs."
        return text

    def render(self) -> str:
        """The plan as text, like terraform's: one block per action, then a summary."""
        lines: list[str] = []
        symbols = {"create": "+", "update": "~", "adopt": "~", "delete": "-", "conflict": "!"}
        for action in self.actions:
            head = f"{symbols[action.kind]} {action.kind} {json.dumps(action.name, ensure_ascii=False)}"
            if action.assistant_id:
                head += f" {action.assistant_id}"
            head += f" ({action.source})"
            lines.append(head)
            if action.message:
                lines.append(f"    {action.message}")
            for change in action.changes:
                rendered = change.render(action.source, creating=action.kind == "create")
                lines.extend(f"    {line}" for line in rendered)
        lines.append(self.summary())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": self.has_changes,
            "scope": self.scope,
            "actions": [a.to_json() for a in self.actions],
            "summary": {
                "create": self.count("create"),
                "update": self.count("update"),
                "adopt": self.count("adopt"),
                "delete": self.count("delete"),
                "conflict": self.count("conflict"),
                "unchanged": len(self.unchanged),
                "unmanaged": self.unmanaged,
                "other_scopes": self.other_scopes,
            },
        }


# --- building a plan --------------------------------------------------------------------------------


def marker_of(assistant: dict[str, Any]) -> str | None:
    """The config name a managed assistant belongs to, or None (unmanaged or replay temporary)."""
    metadata = assistant.get("metadata") or {}
    if markers.REPLAY in metadata:
        return None
    marker = metadata.get(markers.MANAGED)
    return marker if isinstance(marker, str) else None


def identity_name(assistant: dict[str, Any]) -> str:
    """The config name an unmanaged assistant answers to: its name, or its id when unnamed.

    `syncer import` names the config of an unnamed assistant after its id, so that adopting
    it takes over that assistant instead of creating a second one.
    """
    return str(assistant.get("name") or assistant["id"])


def diff_fields(config: LoadedConfig, live: dict[str, Any]) -> list[FieldChange]:
    """The fields of ``live`` that differ from what ``config`` wants, in API field order."""
    changes: list[FieldChange] = []
    for name in API_FIELDS:
        live_value = live.get(name)
        if name == "metadata":
            want = config.fields.get("metadata") or {}
            have = markers.user_keys(live_value)
            if not same_value(want, have) or not same_value(have, want):
                changes.append(FieldChange(name, have, want))
            continue
        if name in config.fields:
            want = config.fields[name]
            if not same_value(want, live_value):
                changes.append(FieldChange(name, live_value, want))
        elif not is_empty(live_value) and not same_value(SERVER_DEFAULTS.get(name), live_value):
            # Set on the server but no longer in the file: back to the API's default.
            changes.append(FieldChange(name, live_value, SERVER_DEFAULTS.get(name)))
    return changes


def update_body(
    config: LoadedConfig, live: dict[str, Any], changes: list[FieldChange], adopt: bool = False
) -> dict[str, Any]:
    """The modify request for ``changes``; metadata always keeps the markers, and adopting (or
    claiming one managed before scopes) adds them."""
    body: dict[str, Any] = {}
    for change in changes:
        if change.field != "metadata":
            body[change.field] = change.after
    if adopt or any(c.field == "metadata" for c in changes):
        live_meta = live.get("metadata") or {}
        reserved = {k: v for k, v in live_meta.items() if k.startswith(markers.PREFIX)}
        wanted = config.fields.get("metadata") or {}
        # Modify replaces the whole metadata map, so the full map is sent: the config's pairs,
        # any syncer: keys already there, and the marker.
        metadata: dict[str, Any] = dict(wanted)
        metadata.update(reserved)
        metadata.update(config.markers())
        body["metadata"] = metadata
    return body


def build_plan(
    configs: list[LoadedConfig],
    live: list[dict[str, Any]],
    *,
    prune: bool = False,
    adopt: bool = False,
    scope: str | None = None,
) -> Plan:
    """Compare configs with the live assistants (in the server's creation order), within
    ``scope`` (see the module docstring)."""
    managed: dict[str, list[dict[str, Any]]] = {}
    before_scopes: dict[str, list[dict[str, Any]]] = {}  # claimable by a scoped plan
    unmanaged_by_name: dict[str, list[dict[str, Any]]] = {}
    unmanaged = other_scopes = 0
    for assistant in live:
        if markers.is_replay(assistant):
            continue
        marker = marker_of(assistant)
        if marker is None:
            unmanaged += 1
            unmanaged_by_name.setdefault(identity_name(assistant), []).append(assistant)
        elif markers.scope_of(assistant) == scope:
            managed.setdefault(marker, []).append(assistant)
        elif markers.scope_of(assistant) is None:
            before_scopes.setdefault(marker, []).append(assistant)
        else:
            other_scopes += 1

    actions: list[Action] = []
    unchanged: list[str] = []
    wanted_names = {c.name for c in configs}
    for config in configs:
        owned = managed.get(config.name, [])
        claimed = before_scopes.get(config.name, []) if not owned else []
        if owned or claimed:
            # The oldest is the one; any later copy (made by hand) counts as an orphan below.
            target = (owned or claimed)[0]
            changes = diff_fields(config, target)
            if claimed:
                actions.append(
                    Action(
                        "update",
                        config.name,
                        target["id"],
                        config,
                        changes,
                        update_body(config, target, changes, adopt=True),
                        message=f"managed before scopes: adds {markers.SCOPE}={scope}",
                    )
                )
            elif changes:
                actions.append(
                    Action(
                        "update",
                        config.name,
                        target["id"],
                        config,
                        changes,
                        update_body(config, target, changes),
                    )
                )
            else:
                unchanged.append(config.name)
            continue
        namesakes = unmanaged_by_name.get(config.name, [])
        if namesakes and adopt and len(namesakes) == 1:
            target = namesakes[0]
            changes = diff_fields(config, target)
            actions.append(
                Action(
                    "adopt",
                    config.name,
                    target["id"],
                    config,
                    changes,
                    update_body(config, target, changes, adopt=True),
                    message=f"takes over unmanaged assistant {target['id']} (adds {markers.MANAGED})",
                )
            )
        elif namesakes:
            ids = ", ".join(a["id"] for a in namesakes)
            why = (
                f"{len(namesakes)} unmanaged assistants ({ids}) have this name; --adopt needs exactly one"
                if len(namesakes) > 1
                else f"unmanaged assistant {ids} has this name; take it over with `syncer apply --adopt` or rename the config"
            )
            actions.append(
                Action(
                    "conflict",
                    config.name,
                    namesakes[0]["id"] if len(namesakes) == 1 else None,
                    config,
                    message=why,
                )
            )
        else:
            actions.append(
                Action(
                    "create",
                    config.name,
                    None,
                    config,
                    [FieldChange(k, None, v) for k, v in config.fields.items()],
                    config.body(),
                )
            )
    if prune:
        for marker, owned in managed.items():
            orphans = owned if marker not in wanted_names else owned[1:]
            for assistant in orphans:
                why = (
                    "no config has this name"
                    if marker not in wanted_names
                    else "a second copy of a managed assistant"
                )
                actions.append(Action("delete", marker, assistant["id"], message=why))
    order = {"create": 0, "adopt": 1, "update": 2, "delete": 3, "conflict": 4}
    actions.sort(key=lambda a: order[a.kind])
    for action in actions:
        action.scope = scope
    return Plan(
        actions=actions,
        unchanged=unchanged,
        unmanaged=unmanaged,
        prune=prune,
        scope=scope,
        other_scopes=other_scopes,
    )


async def live_assistants(client: AssistantsClient) -> list[dict[str, Any]]:
    """Every assistant on the server as raw JSON, oldest first."""
    return [a async for page in client.assistant_pages(order="asc", limit=100) for a in page.data]
