"""Latency, seeded fault injection, scripted faults and dropped connections."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from syncer.emulator import EmulatorConfig, create_app, running_server

HEADERS = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"}


def in_process(config: EmulatorConfig) -> tuple[object, httpx.AsyncClient]:
    app = create_app(config)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator",
                               headers=HEADERS)
    return app, client


async def outcomes(config: EmulatorConfig, count: int = 120) -> list[str]:
    """What each of ``count`` identical list requests got: a status, or "drop"."""
    _, client = in_process(config)
    seen = []
    async with client:
        for _ in range(count):
            try:
                seen.append(str((await client.get("/v1/assistants")).status_code))
            except httpx.RemoteProtocolError:
                seen.append("drop")
    return seen


async def test_faults_are_reproducible_for_a_seed_and_differ_between_seeds():
    first = await outcomes(EmulatorConfig(fault_rate=0.3, seed=11))
    second = await outcomes(EmulatorConfig(fault_rate=0.3, seed=11))
    other = await outcomes(EmulatorConfig(fault_rate=0.3, seed=12))
    assert first == second
    assert first != other
    assert set(first) == {"200", "429", "500", "503", "drop"}
    faults = sum(outcome != "200" for outcome in first)
    assert 15 <= faults <= 60  # about 30 % of 120
    assert await outcomes(EmulatorConfig(fault_rate=0.0, seed=11), 30) == ["200"] * 30


async def test_429_carries_retry_after_headers_and_the_real_body():
    _, client = in_process(EmulatorConfig(fault_rate=1.0, seed=3))
    async with client:
        for _ in range(50):
            try:
                response = await client.get("/v1/assistants")
            except httpx.RemoteProtocolError:
                continue
            if response.status_code == 429:
                break
        else:
            pytest.fail("no 429 in 50 faulted requests")
    assert 10 <= int(response.headers["retry-after-ms"]) <= 50
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-request-id"].startswith("req_")
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"].startswith("Rate limit reached for requests")


async def test_a_faulted_request_has_no_effect():
    _, client = in_process(EmulatorConfig())
    async with client:
        scripted = await client.post("/_emulator/faults", json={"fail_writes": [2], "status": 500})
        assert scripted.json() == {"fail_writes": [2], "fail_requests": [], "fail_runs": [], "status": "500"}
        names = []
        for name in ("one", "two", "three"):
            response = await client.post("/v1/assistants", json={"model": "m", "name": name})
            names.append((name, response.status_code))
        assert names == [("one", 200), ("two", 500), ("three", 200)]
        listed = (await client.get("/v1/assistants", params={"order": "asc"})).json()["data"]
        assert [a["name"] for a in listed] == ["one", "three"]
        stats = (await client.get("/_emulator/stats")).json()
        assert (stats["writes"], stats["faults"]) == (3, 1)


async def test_scripted_fault_counts_writes_only_and_rejects_bad_specs():
    _, client = in_process(EmulatorConfig())
    async with client:
        await client.post("/_emulator/faults", json={"fail_writes": [1], "status": 503})
        assert (await client.get("/v1/assistants")).status_code == 200  # reads do not count
        assert (await client.post("/v1/assistants", json={"model": "m"})).status_code == 503
        assert (await client.post("/v1/assistants", json={"model": "m"})).status_code == 200
        bad = await client.post("/_emulator/faults", json={"fail_writes": [1], "status": 418})
        assert bad.status_code == 400


async def test_drop_in_process_raises_the_same_error_as_over_the_network():
    _, client = in_process(EmulatorConfig())
    async with client:
        await client.post("/_emulator/faults", json={"fail_requests": [1], "status": "drop"})
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/v1/assistants")
        assert (await client.get("/v1/assistants")).status_code == 200


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_dropped_connection_over_real_http_and_the_server_keeps_serving():
    with running_server(EmulatorConfig()) as server:
        errors = Collect()
        logging.getLogger("uvicorn.error").addHandler(errors)
        server.script_faults({"fail_writes": [1], "status": "drop"})
        with httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
            # Depending on timing the client sees the cut as a truncated answer or a reset.
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                client.post("/assistants", json={"model": "m"})
            assert client.get("/assistants").json()["data"] == []  # the dropped create did nothing
            assert client.post("/assistants", json={"model": "m"}).status_code == 200
        assert server.stats()["faults"] == 1
        logging.getLogger("uvicorn.error").removeHandler(errors)
    # On purpose, so not logged as an application error.
    assert [r.getMessage() for r in errors.records] == []


async def test_latency_is_added_to_every_v1_response():
    _, client = in_process(EmulatorConfig(latency_ms=60))
    async with client:
        started = time.perf_counter()
        await client.get("/v1/assistants")
        assert time.perf_counter() - started >= 0.06
        started = time.perf_counter()
        await client.get("/_emulator/stats")  # outside /v1: no latency
        assert time.perf_counter() - started < 0.06
