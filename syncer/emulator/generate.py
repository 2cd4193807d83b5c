"""Generated accounts of any size, for tests, benchmarks and the demo.

    account = generate_account(seed=0, assistants=200, threads=1000,
                               messages_per_thread=50, runs_per_thread=10)
    create_app(EmulatorConfig(load=...))   # or json.dump(account, f) for --load

The same seed gives the same account (ids included). Replies are made by the emulator's
deterministic model from exactly what a run would see (the assistant's model and
instructions, the thread's messages so far, the submitted tool outputs), and tool calls by
the model's ``@name`` rule, so replaying a generated thread on its own assistant reproduces
every reply byte for byte. ``tool_call_ratio`` of the runs call function tools (some in
parallel) and record their outputs in ``tool_calls`` run steps.

``python -m syncer.emulator.generate --sample`` rewrites the packaged sample account
(`sample_account_path()`), which the demo and ``syncer emulator --sample`` load.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from syncer.emulator import objects
from syncer.emulator.backends import deterministic
from syncer.emulator.runs import EXPIRES_AFTER
from syncer.emulator.storage import ID_PREFIX, id_suffix

BASE_TIME = 1_717_200_000  # 2024-06-01, when the Assistants API v2 was in full use
SAMPLE_OPTIONS = {
    "seed": 7, "assistants": 4, "threads": 8, "messages_per_thread": 8,
    "runs_per_thread": 3, "tool_call_ratio": 0.5,
}

CITIES = ["Paris", "Lisbon", "Nairobi", "Osaka", "Denver", "Oslo", "Lima", "Hanoi"]
CURRENCIES = ["EUR", "USD", "JPY", "GBP", "CHF"]
SYMBOLS = ["ACME", "GLOBX", "INITECH", "UMBR", "WAYNE"]


@dataclass(frozen=True)
class Tool:
    """A function tool with how to invent its arguments and its output."""

    name: str
    description: str
    parameters: dict[str, str]  # name → JSON type
    arguments: Callable[[random.Random], dict[str, Any]]
    output: Callable[[random.Random, dict[str, Any]], dict[str, Any]]

    def definition(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {p: {"type": t} for p, t in self.parameters.items()},
                    "required": list(self.parameters),
                },
                "strict": False,
            },
        }


TOOLS = {
    tool.name: tool
    for tool in [
        Tool("get_weather", "Current weather for a city.", {"city": "string"},
             lambda r: {"city": r.choice(CITIES)},
             lambda r, a: {"city": a["city"], "temperature_c": r.randint(-5, 35),
                           "conditions": r.choice(["sunny", "cloudy", "rain", "windy"])}),
        Tool("lookup_order", "Status of a customer order.", {"order_id": "string"},
             lambda r: {"order_id": f"A-{r.randint(10000, 99999)}"},
             lambda r, a: {"order_id": a["order_id"],
                           "status": r.choice(["shipped", "processing", "delivered"]),
                           "eta_days": r.randint(0, 9)}),
        Tool("create_ticket", "Open a support ticket.", {"title": "string"},
             lambda r: {"title": r.choice(["Damaged parcel", "Wrong size", "Late delivery"])},
             lambda r, a: {"ticket": f"T-{r.randint(1000, 9999)}", "title": a["title"]}),
        Tool("search_flights", "Flights between two cities.", {"origin": "string", "destination": "string"},
             lambda r: dict(zip(("origin", "destination"), r.sample(CITIES, 2), strict=True)),
             lambda r, a: {"flights": [{"from": a["origin"], "to": a["destination"],
                                        "price_eur": r.randint(80, 900)}]}),
        Tool("convert_currency", "Convert an amount between currencies.",
             {"amount": "number", "source": "string", "target": "string"},
             lambda r: {"amount": r.randint(10, 5000),
                        **dict(zip(("source", "target"), r.sample(CURRENCIES, 2), strict=True))},
             lambda r, a: {"amount": round(a["amount"] * r.uniform(0.5, 1.8), 2),
                           "currency": a["target"]}),
        Tool("get_stock_price", "Latest price of a stock.", {"symbol": "string"},
             lambda r: {"symbol": r.choice(SYMBOLS)},
             lambda r, a: {"symbol": a["symbol"], "price": round(r.uniform(5, 500), 2)}),
    ]
}

# (name, model, instructions, tools, things users ask)
PERSONAS = [
    ("Weather Desk", "gpt-4o",
     "You answer questions about the weather. Be concise, name the city and give temperatures in Celsius.",
     ["get_weather"],
     ["Should I take an umbrella tomorrow?", "Is it a good week for a picnic?",
      "How cold does it get at night?", "What should I wear for a run this evening?"]),
    ("Order Support", "gpt-4o-mini",
     "You help customers with their orders. Always confirm the order id and stay polite.",
     ["lookup_order", "create_ticket"],
     ["Where is my parcel?", "My order arrived damaged.", "Can I still change the delivery address?",
      "I was charged twice for one order."]),
    ("Travel Planner", "gpt-4.1",
     "You plan trips on a budget. Suggest concrete options and mention prices in euros.",
     ["search_flights", "convert_currency", "get_weather"],
     ["Plan me a long weekend in spring.", "What is the cheapest way to get there?",
      "Is it worth renting a car?", "Which neighbourhood should I stay in?"]),
    ("Market Analyst", "gpt-4o",
     "You explain market moves in plain words. Never give personal investment advice.",
     ["get_stock_price", "convert_currency"],
     ["Why did tech stocks fall this week?", "Explain what a dividend is.",
      "How do interest rates move bond prices?", "Summarise the quarter for me."]),
]


def sample_account_path() -> Path:
    """The packaged sample account (the demo's), ``syncer/data/sample_account.json``."""
    return Path(str(files("syncer") / "data" / "sample_account.json"))


def generate_account(
    seed: int = 0,
    assistants: int = 3,
    threads: int = 5,
    messages_per_thread: int = 6,
    runs_per_thread: int = 2,
    tool_call_ratio: float = 0.3,
) -> dict[str, list[dict[str, Any]]]:
    """An account file's content (see `syncer.emulator.loading`), deterministic in ``seed``.

    Each thread alternates user turns and runs: ``runs_per_thread`` runs, each answering the
    user messages before it with one assistant message, ``messages_per_thread`` messages in all
    (at most half of them replies). Everything is completed; nothing is left active.
    """
    if min(assistants, threads, messages_per_thread, runs_per_thread) < 0 or (threads and not assistants):
        raise ValueError("counts must not be negative, and threads need at least one assistant")
    return _Generator(seed, tool_call_ratio).account(
        assistants, threads, messages_per_thread, runs_per_thread
    )


class _Generator:
    def __init__(self, seed: int, tool_call_ratio: float):
        self.rng = random.Random(seed)
        self.tool_call_ratio = tool_call_ratio
        self.clock = BASE_TIME + seed % 1000 * 86_400
        self.out: dict[str, list[dict[str, Any]]] = {
            "assistants": [], "threads": [], "messages": [], "runs": [], "run_steps": [],
        }

    def account(self, n_assistants: int, n_threads: int, per_thread: int, runs: int) -> dict[str, Any]:
        personas = [self._assistant(i) for i in range(n_assistants)]
        for _ in range(n_threads):
            assistant, questions = self.rng.choice(personas)
            self._thread(assistant, questions, per_thread, runs)
        return self.out

    def _id(self, kind: str) -> str:
        return f"{ID_PREFIX[kind]}_" + id_suffix(self.rng.randbytes(24))

    def _tick(self, low: int = 1, high: int = 90) -> int:
        self.clock += self.rng.randint(low, high)
        return self.clock

    def _assistant(self, index: int) -> tuple[dict[str, Any], list[str]]:
        name, model_name, instructions, tool_names, questions = PERSONAS[index % len(PERSONAS)]
        if index >= len(PERSONAS):
            name = f"{name} {index // len(PERSONAS) + 1}"
        tools = [TOOLS[t].definition() for t in tool_names]
        if index % 3 == 2:
            tools.append({"type": "code_interpreter"})
        assistant = {
            "id": self._id("assistant"), "object": "assistant", "created_at": self._tick(),
            "name": name, "description": f"{name}: {instructions.split('.')[0].lower()}.",
            "model": model_name, "instructions": instructions, "tools": tools,
            "tool_resources": {}, "metadata": {"team": self.rng.choice(["support", "growth", "labs"])},
            "temperature": 1.0, "top_p": 1.0, "response_format": "auto",
        }
        self.out["assistants"].append(assistant)
        return assistant, questions

    def _thread(self, assistant: dict[str, Any], questions: list[str], per_thread: int, runs: int) -> None:
        runs = min(runs, per_thread // 2)
        thread: dict[str, Any] = {"id": self._id("thread"), "object": "thread", "created_at": self._tick(),
                  "metadata": {"topic": self.rng.choice(questions)[:40]}, "tool_resources": {}}
        self.out["threads"].append(thread)
        history = deterministic.Conversation(assistant["model"], assistant["instructions"] or "")
        user_total = per_thread - runs
        # Spread the user messages over the turns: every run answers at least one of them.
        per_turn = [1] * runs or [0]
        for _ in range(user_total - sum(per_turn) if runs else user_total):
            per_turn[self.rng.randrange(len(per_turn))] += 1
        for turn, count in enumerate(per_turn):
            for k in range(count):
                wants_tool = bool(runs) and k == count - 1 and self.rng.random() < self.tool_call_ratio
                text = self._user_text(assistant, questions, wants_tool)
                self._message(thread["id"], "user", text)
                history.add("user", text)
            if turn < runs:
                reply = self._run(thread["id"], assistant, history)
                history.add("assistant", reply)

    def _user_text(self, assistant: dict[str, Any], questions: list[str], wants_tool: bool) -> str:
        text = self.rng.choice(questions)
        names = objects.function_names(assistant["tools"])
        if wants_tool and names:
            count = 2 if len(names) > 1 and self.rng.random() < 0.3 else 1
            for name in self.rng.sample(names, count):
                args = json.dumps(TOOLS[name].arguments(self.rng)) if name in TOOLS else "{}"
                text += f" @{name} {args}"
        return text

    def _message(self, thread_id: str, role: str, text: str, **fields: Any) -> dict[str, Any]:
        created = fields.pop("created_at", None) or self._tick()
        message = objects.message(thread_id, role, text, created, object_id=self._id("message"), **fields)
        self.out["messages"].append(message)
        return message

    def _run(self, thread_id: str, assistant: dict[str, Any], history: deterministic.Conversation) -> str:
        """A completed run, exactly as the emulator would have produced it."""
        model_name, instructions = assistant["model"], assistant["instructions"] or ""
        created = self._tick(1, 5)
        run_id = self._id("run")
        calls = deterministic.tool_calls(history.last, objects.function_names(assistant["tools"]))
        prompt = completion = 0
        results: list[deterministic.ToolResult] = []
        now = created + 1
        if calls:
            prompt += history.prompt_tokens
            tokens = sum(deterministic.count_tokens(c.name + c.arguments) for c in calls)
            completion += tokens
            tool_calls = []
            for call in calls:
                tool = TOOLS.get(call.name)
                output = json.dumps(tool.output(self.rng, json.loads(call.arguments)) if tool else {})
                results.append(deterministic.ToolResult(call.name, call.arguments, output))
                tool_calls.append({"id": self._id("call"), "type": "function",
                                   "function": {"name": call.name, "arguments": call.arguments,
                                                "output": output}})
            self._step(run_id, thread_id, assistant, "tool_calls", now, now + 2,
                       {"type": "tool_calls", "tool_calls": tool_calls}, 0, tokens)
            now += 3
        text = history.reply(results)
        step_prompt, step_completion = history.prompt_tokens, deterministic.count_tokens(text)
        prompt += step_prompt
        completion += step_completion
        message = self._message(thread_id, "assistant", text, created_at=now,
                                assistant_id=assistant["id"], run_id=run_id)
        self._step(run_id, thread_id, assistant, "message_creation", now, now + 1,
                   {"type": "message_creation", "message_creation": {"message_id": message["id"]}},
                   step_prompt, step_completion)
        message["completed_at"] = now + 1
        self.clock = now + 1
        self.out["runs"].append({
            "id": run_id, "object": "thread.run", "created_at": created,
            "assistant_id": assistant["id"], "thread_id": thread_id, "status": "completed",
            "started_at": created + 1, "expires_at": None, "cancelled_at": None, "failed_at": None,
            "completed_at": now + 1, "required_action": None, "last_error": None,
            "model": model_name, "instructions": instructions, "tools": assistant["tools"],
            "metadata": {}, "usage": _usage(prompt, completion), "temperature": 1.0, "top_p": 1.0,
            "max_prompt_tokens": None, "max_completion_tokens": None,
            "truncation_strategy": {"type": "auto", "last_messages": None},
            "incomplete_details": None, "response_format": "auto", "tool_choice": "auto",
            "parallel_tool_calls": True,
        })
        assert created + EXPIRES_AFTER > now  # a generated run never outlives its expiry
        return text

    def _step(self, run_id: str, thread_id: str, assistant: dict[str, Any], kind: str, created: int,
              completed: int, details: dict[str, Any], prompt: int, completion: int) -> None:
        self.out["run_steps"].append({
            "id": self._id("step"), "object": "thread.run.step", "created_at": created,
            "run_id": run_id, "assistant_id": assistant["id"], "thread_id": thread_id,
            "type": kind, "status": "completed", "cancelled_at": None, "completed_at": completed,
            "expired_at": None, "failed_at": None, "last_error": None, "step_details": details,
            "usage": _usage(prompt, completion), "metadata": {},
        })


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def main(argv: list[str] | None = None) -> None:
    """Write a generated account as JSON (``--sample``: regenerate the packaged sample)."""
    parser = argparse.ArgumentParser(prog="python -m syncer.emulator.generate")
    parser.add_argument("--sample", action="store_true", help="rewrite the packaged sample account")
    parser.add_argument("--out", type=Path, help="output file (default: stdout)")
    for option in ("seed", "assistants", "threads", "messages_per_thread", "runs_per_thread"):
        parser.add_argument(f"--{option.replace('_', '-')}", type=int)
    parser.add_argument("--tool-call-ratio", type=float)
    args = parser.parse_args(argv)
    options: dict[str, Any] = dict(SAMPLE_OPTIONS) if args.sample else {}
    for key in ("seed", "assistants", "threads", "messages_per_thread", "runs_per_thread", "tool_call_ratio"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    text = json.dumps(generate_account(**options), indent=1, ensure_ascii=False) + "\n"
    out = sample_account_path() if args.sample and args.out is None else args.out
    if out is None:
        pass
    else:
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
