"""Perform a plan: create, adopt, update and delete assistants, one call each, in plan order.

Safety rules, so that a failure part-way always leaves a correct account:

- every assistant is created with its ``syncer:name`` marker in the same request, so one
  created just before a crash is found again by the next plan (never created twice); when a
  create's answer is lost, the marker is looked up before reporting a failure, and copies left
  by a retried create are removed at the end of the run;
- before an update or delete the assistant is read again and must still carry the marker
  the plan saw (adopt: must still be unmanaged and have the config's name); syncer never
  writes to an assistant it does not own;
- the first failed call stops the run: later calls are not attempted, and running apply
  again plans from the account as it now is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncer import markers
from syncer.api.client import AssistantsClient
from syncer.errors import (
    APIConnectionError,
    InternalServerError,
    NotFoundError,
    SyncerError,
    UsageError,
)
from syncer.gitops.config import LoadedConfig, load_configs
from syncer.gitops.plan import (
    Action,
    Plan,
    build_plan,
    identity_name,
    live_assistants,
    marker_of,
)
from syncer.gitops.tree import find_scope

_PAST = {"create": "created", "update": "updated", "adopt": "adopted", "delete": "deleted"}


class PlanChangedError(UsageError):
    """The account changed between the plan and the call: plan again."""


@dataclass
class ApplyResult:
    """What an apply did: the actions performed (with the assistant id) and the first failure."""

    done: list[tuple[Action, str]] = field(default_factory=list)
    failed: Action | None = None
    error: SyncerError | None = None
    skipped: int = 0  # actions not attempted after the failure
    duplicates_removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


async def plan_directory(
    client: AssistantsClient,
    directory: str | Path,
    *,
    prune: bool = False,
    adopt: bool = False,
    configs: list[LoadedConfig] | None = None,
    scope: str | None = None,
) -> Plan:
    """Load and validate every config (no API call if that fails), then diff with the account.

    ``scope`` is ``--scope``; otherwise the config root's ``syncer.yaml`` gives it.
    """
    effective = find_scope(directory, scope)
    if configs is None:
        configs = load_configs(directory, scope=scope)
    live = await live_assistants(client)
    return build_plan(configs, live, prune=prune, adopt=adopt, scope=effective)


async def _check_still_ours(client: AssistantsClient, action: Action) -> dict[str, Any] | None:
    """The live assistant, re-read; raises if it is no longer what the plan saw; None if gone."""
    try:
        live = await client.get_assistant_json(str(action.assistant_id))
    except NotFoundError:
        return None
    if markers.is_replay(live):
        raise PlanChangedError(f"{action.assistant_id} is now a replay temporary; plan again")
    marker = marker_of(live)
    if action.kind == "adopt":
        if marker is not None or identity_name(live) != action.name:
            raise PlanChangedError(
                f"{action.assistant_id} changed since the plan (no longer an unmanaged assistant named "
                f"{action.name!r}); plan again"
            )
    elif marker != action.name:
        raise PlanChangedError(
            f"{action.assistant_id} no longer carries the marker syncer:name={action.name!r}; "
            "syncer leaves it alone — plan again"
        )
    elif markers.scope_of(live) != action.scope and not (
        action.kind == "update" and markers.scope_of(live) is None
    ):
        # An update may claim one managed before scopes; a delete never leaves its own scope.
        raise PlanChangedError(
            f"{action.assistant_id} is no longer in the scope {action.scope!r}; syncer leaves "
            "it alone — plan again"
        )
    return live


async def perform(client: AssistantsClient, action: Action) -> str:
    """One action's API call(s); returns the assistant's id."""
    if action.kind == "create":
        try:
            created = await client.create_assistant(action.body)
        except (APIConnectionError, InternalServerError):
            # The answer was lost, but the create may have happened: look for the marker.
            found = await _carrying_marker(client, action.name, action.scope)
            if found:
                return str(found[0]["id"])
            raise
        return created.id
    if action.kind in ("update", "adopt"):
        live = await _check_still_ours(client, action)
        if live is None:
            raise PlanChangedError(f"{action.assistant_id} was deleted since the plan; plan again")
        await client.update_assistant(str(action.assistant_id), action.body)
        return str(action.assistant_id)
    if action.kind == "delete":
        if await _check_still_ours(client, action) is not None:
            # Deleted by someone else meanwhile: the goal is reached.
            with contextlib.suppress(NotFoundError):
                await client.delete_assistant(str(action.assistant_id))
        return str(action.assistant_id)
    raise UsageError(f"cannot apply a {action.kind} ({action.name!r})")


async def apply_plan(
    client: AssistantsClient, plan: Plan, progress: Callable[[str], None] | None = None
) -> ApplyResult:
    """Perform every change of ``plan`` in order; stops at the first failure (see module doc)."""
    result = ApplyResult()
    changes = plan.changes
    for index, action in enumerate(changes):
        try:
            assistant_id = await perform(client, action)
        except SyncerError as error:
            result.failed, result.error = action, error
            result.skipped = len(changes) - index - 1
            break
        result.done.append((action, assistant_id))
        if progress:
            progress(f"{_PAST[action.kind]} {action.name!r} {assistant_id}")
    created = {a.name for a in changes[: len(result.done) + 1] if a.kind == "create"}
    if created:
        try:
            result.duplicates_removed = await _remove_duplicates(
                client, created, plan.scope, progress
            )
        except SyncerError as error:
            if result.error is None:
                result.error = error
    return result


def _ours(assistant: dict[str, Any], name: str, scope: str | None) -> bool:
    return marker_of(assistant) == name and markers.scope_of(assistant) == scope


async def _carrying_marker(
    client: AssistantsClient, name: str, scope: str | None
) -> list[dict[str, Any]]:
    """The assistants (oldest first) whose marker is ``name``, in ``scope``."""
    return [a for a in await live_assistants(client) if _ours(a, name, scope)]


async def _remove_duplicates(
    client: AssistantsClient,
    names: set[str],
    scope: str | None,
    progress: Callable[[str], None] | None,
) -> list[str]:
    """Delete all but the oldest assistant carrying each marker this run created.

    Before this run no assistant carried these markers (that is why they were created), so
    every copy is this run's: a client retry after an answer lost on the way back, for one.
    """
    removed: list[str] = []
    live = await live_assistants(client)
    for name in sorted(names):
        copies = [a for a in live if _ours(a, name, scope)]
        for extra in copies[1:]:
            with contextlib.suppress(NotFoundError):
                await client.delete_assistant(extra["id"])
            removed.append(extra["id"])
            if progress:
                progress(
                    f"deleted {extra['id']}: a second copy of {name!r} left by a retried create"
                )
    return removed


# --- the whole flow: plan, confirm, apply, plan again -------------------------------------------

#: asked a yes/no question before anything is written (the CLI asks the terminal; the demo and
#: ``--yes`` answer yes); raising is how it refuses to ask.
Confirm = Callable[[str], bool]


@dataclass
class ApplyOutcome:
    """What `apply_directory` did: the plan, what was applied, and the plan after it."""

    before: Plan
    applied: ApplyResult | None = None  # None: nothing to apply, or the confirmation said no
    after: Plan | None = None  # the re-plan (the same as ``before`` when nothing was to apply)
    declined: bool = False

    @property
    def converged(self) -> bool:
        """Nothing left to change (a failure part-way leaves changes for the next apply)."""
        return self.after is not None and not self.after.has_changes

    def to_json(self) -> dict[str, Any]:
        done = self.applied.done if self.applied else []
        error = self.applied.error if self.applied else None
        report: dict[str, Any] = {
            "plan": self.before.to_json(),
            "applied": [{"action": a.kind, "name": a.name, "assistant_id": i} for a, i in done],
            "error": None if error is None else str(error),
        }
        if self.after is not None:
            report["after"] = self.after.to_json()
        return report


async def apply_directory(
    client: AssistantsClient,
    directory: str | Path,
    confirm: Confirm,
    *,
    prune: bool = False,
    adopt: bool = False,
    configs: list[LoadedConfig] | None = None,
    scope: str | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ApplyOutcome:
    """Plan ``directory`` against the account, confirm, apply, and plan again.

    ``on_plan`` sees the first plan before ``confirm`` is asked (which it is only when there
    are changes); ``progress`` gets a line per change made. A failed change stops the apply
    (``outcome.applied.error``); the re-plan then shows what is left.
    """
    before = await plan_directory(client, directory, prune=prune, adopt=adopt, configs=configs,
                                  scope=scope)
    if on_plan:
        on_plan(before)
    if not before.has_changes:
        return ApplyOutcome(before, after=before)
    if not confirm("Apply these changes?"):
        return ApplyOutcome(before, declined=True)
    applied = await apply_plan(client, before, progress=progress)
    after = await plan_directory(client, directory, prune=prune, adopt=adopt,
                                 configs=configs, scope=scope)
    return ApplyOutcome(before, applied=applied, after=after)
