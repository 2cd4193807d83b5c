"""`syncer import` → `syncer apply --adopt` → `syncer plan` shows no changes."""

from __future__ import annotations

from pathlib import Path

from support.gitops import syncer

from syncer.gitops.config import load_configs

LONG_INSTRUCTIONS = (
    "You are the billing assistant.\n\n"
    + "".join(
        f"{n}. Rule number {n}: check the invoice total against the order lines.\n"
        for n in range(1, 40)
    )
    + "\n    An indented example: total = ${subtotal} + tax\n"
    + "Trailing spaces stay   \n"
    + "Last line without a newline"
)

ASSISTANTS = [
    {
        "model": "gpt-4o",
        "name": "Billing helper",
        "description": "Explains invoices, refunds and payment failures to customers in plain words. "
        * 2,
        "instructions": LONG_INSTRUCTIONS,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_invoice",
                    "description": "Fetch one invoice.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "invoice_id": {"type": "string"},
                            "expand": {"type": "boolean"},
                        },
                        "required": ["invoice_id"],
                    },
                    "strict": True,
                },
            },
            {
                "type": "function",
                "function": {"name": "refund", "parameters": {"type": "object", "properties": {}}},
            },
            {"type": "code_interpreter"},
        ],
        "temperature": 0.2,
        "metadata": {"team": "billing", "cost": "$${not a variable}"},
    },
    {
        "model": "gpt-4o-mini",
        "name": "Librarian",
        "instructions": "One line of instructions.",
        "tools": [{"type": "file_search"}],
        "top_p": 0.5,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"text": {"type": "string"}}},
            },
        },
    },
    {"model": "gpt-4o-mini", "name": "Bare"},
    {"model": "gpt-4o-mini", "instructions": "I was never given a name."},
]


def test_import_then_adopt_then_plan_shows_no_changes(gitops_server, tmp_path):
    created = [gitops_server.api("POST", "/assistants", body).json() for body in ASSISTANTS]
    out = tmp_path / "imported"

    result = syncer(gitops_server, "import", "--all", "--out", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(Path(line) for line in result.stdout.splitlines())
    unnamed = created[3]["id"]
    assert sorted(f.name for f in files) == sorted(
        ["bare.yaml", "billing-helper.yaml", "librarian.yaml", f"{unnamed}.yaml"]
    )
    # An unnamed assistant's config is named after its id (a config needs a name).
    assert (out / f"{unnamed}.yaml").read_text().splitlines()[1] == f"name: {unnamed}"
    billing = (out / "billing-helper.yaml").read_text()
    assert "instructions: |" in billing  # long instructions as a block scalar
    assert "  1. Rule number 1: check the invoice total against the order lines.\n" in billing
    assert "$${subtotal}" in billing  # a literal ${ survives loading
    assert "temperature: 0.2" in billing and "top_p" not in billing  # server defaults left out
    assert (out / "bare.yaml").read_text().splitlines()[1:] == ["name: Bare", "model: gpt-4o-mini"]

    loaded = {c.name: c for c in load_configs(out)}
    assert loaded["Billing helper"].fields["instructions"] == LONG_INSTRUCTIONS
    assert loaded["Billing helper"].fields["metadata"] == {
        "team": "billing",
        "cost": "$${not a variable}",
    }

    # Before adoption every config is a conflict with its unmanaged original.
    assert syncer(gitops_server, "plan", str(out)).exit_code == 1

    raw_before = {a["id"]: gitops_server.api("GET", f"/assistants/{a['id']}").json() for a in created}
    adopted = syncer(gitops_server, "apply", str(out), "--adopt", "--yes")
    assert adopted.exit_code == 0, adopted.output
    assert "Plan: 0 to create, 0 to update, 4 to adopt, 0 to delete." in adopted.stdout
    for assistant_id, before in raw_before.items():
        after = gitops_server.api("GET", f"/assistants/{assistant_id}").json()
        # The unnamed one takes its config's name (its id); nothing else changes.
        name = before["name"] or assistant_id
        assert after["metadata"] == {**before["metadata"], "syncer:name": name}
        assert {k: v for k, v in after.items() if k != "metadata"} == {
            k: v for k, v in before.items() if k != "metadata"
        } | {"name": name}

    final = syncer(gitops_server, "plan", str(out), "--detailed-exitcode")
    assert final.exit_code == 0, final.output
    assert len(gitops_server.assistants()) == 4  # adopted, never created anew


def test_import_by_id_refuses_to_overwrite(gitops_server, tmp_path):
    [first, second] = [gitops_server.api("POST", "/assistants", body).json() for body in ASSISTANTS[1:3]]
    out = tmp_path / "one"
    result = syncer(gitops_server, "import", second["id"], "--out", str(out))
    assert result.exit_code == 0
    assert result.stdout.strip() == str(out / "bare.yaml")
    again = syncer(gitops_server, "import", second["id"], first["id"], "--out", str(out))
    assert again.exit_code == 1
    assert f"not overwriting existing files (use --force): {out / 'bare.yaml'}" in again.stderr
    assert not (out / "librarian.yaml").exists()
    assert syncer(gitops_server, "import", second["id"], "--out", str(out), "--force").exit_code == 0


def test_import_needs_ids_or_all(gitops_server):
    result = syncer(gitops_server, "import")
    assert result.exit_code == 1
    assert "give assistant ids or --all" in result.stderr
