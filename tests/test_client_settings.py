"""ClientSettings from the environment, and the headers every request carries."""

from __future__ import annotations

import httpx
import pytest

from syncer import __version__
from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.errors import UsageError

KEY = "sk-test-0123456789abcdefSECRET"


def test_defaults_match_the_official_sdk(monkeypatch):
    monkeypatch.delenv("SYNCER_RETRY_BASE_DELAY")
    settings = ClientSettings.from_env()
    assert settings.api_key is None
    assert settings.base_url == "https://api.openai.com/v1"
    assert settings.organization is None and settings.project is None
    assert settings.max_retries == 5
    assert settings.timeout == 600.0
    assert settings.connect_timeout == 5.0
    assert settings.retry_base_delay == 0.5
    assert settings.retry_max_delay == 8.0


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_456")
    monkeypatch.setenv("SYNCER_MAX_RETRIES", "7")
    monkeypatch.setenv("SYNCER_TIMEOUT", "30")
    monkeypatch.setenv("SYNCER_RETRY_BASE_DELAY", "0.25")
    settings = ClientSettings.from_env()
    assert settings.secret() == KEY
    assert settings.base_url == "http://127.0.0.1:8000/v1"  # trailing slash dropped
    assert settings.organization == "org-123"
    assert settings.project == "proj_456"
    assert settings.max_retries == 7
    assert settings.timeout == 30.0
    assert settings.retry_base_delay == 0.25


def test_overrides_win_and_none_means_not_given(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("SYNCER_MAX_RETRIES", "7")
    settings = ClientSettings.from_env(base_url="http://127.0.0.1:9999/v1", max_retries=None)
    assert settings.base_url == "http://127.0.0.1:9999/v1"
    assert settings.max_retries == 7


def test_empty_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    settings = ClientSettings.from_env()
    assert settings.api_key is None
    assert settings.base_url == "https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SYNCER_MAX_RETRIES", "lots"),
        ("SYNCER_MAX_RETRIES", "-1"),
        ("SYNCER_TIMEOUT", "0"),
        ("OPENAI_BASE_URL", "ftp://example.com"),
        ("OPENAI_BASE_URL", "localhost:8000"),
    ],
)
def test_a_bad_variable_is_a_usage_error_naming_it(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError) as caught:
        ClientSettings.from_env()
    assert str(caught.value).startswith("invalid connection settings: " + variable + ":")
    assert "Value error" not in str(caught.value)  # pydantic's prefix is not for people


def test_a_bad_option_is_named_as_the_option():
    with pytest.raises(UsageError, match="--max-retries"):
        ClientSettings.from_env(max_retries=-3)


def test_credentials_in_the_base_url_are_refused_without_echoing_them():
    with pytest.raises(UsageError) as caught:
        ClientSettings.from_env(base_url="http://user:hunter2secret@127.0.0.1/v1")
    assert "hunter2secret" not in str(caught.value)


def test_the_key_never_shows_in_repr_or_str(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings = ClientSettings.from_env()
    client = AssistantsClient(settings)
    for text in (repr(settings), str(settings), repr(client), str(client),
                 repr(settings.model_dump()), settings.model_dump_json()):
        assert KEY not in text
        assert KEY[-8:] not in text


async def test_every_request_carries_auth_beta_org_project_and_user_agent():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "asst_1", "object": "assistant"})

    settings = ClientSettings(api_key=KEY, base_url="http://127.0.0.1:1/v1",
                              organization="org-123", project="proj_456")
    async with AssistantsClient(settings, transport=httpx.MockTransport(handler)) as client:
        await client.request("GET", "/assistants/asst_1")
        await client.request("POST", "/assistants", json={"model": "gpt-4o"})
    get, post = seen
    assert str(get.url) == "http://127.0.0.1:1/v1/assistants/asst_1"
    for request in seen:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["openai-beta"] == "assistants=v2"
        assert request.headers["openai-organization"] == "org-123"
        assert request.headers["openai-project"] == "proj_456"
        assert request.headers["user-agent"] == f"syncer/{__version__}"
    assert post.headers["content-type"] == "application/json"
    assert post.read() == b'{"model":"gpt-4o"}'
    assert "idempotency-key" in post.headers and "idempotency-key" not in get.headers


async def test_no_org_or_project_headers_unless_configured():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    settings = ClientSettings(api_key=KEY, base_url="http://127.0.0.1:1/v1")
    async with AssistantsClient(settings, transport=httpx.MockTransport(handler)) as client:
        await client.request("GET", "/assistants")
    assert "openai-organization" not in seen[0].headers
    assert "openai-project" not in seen[0].headers


async def test_a_missing_key_fails_at_the_first_request_not_before():
    settings = ClientSettings(base_url="http://127.0.0.1:1/v1")
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(200, json={}))
    async with AssistantsClient(settings, transport=transport) as client:  # no error yet
        with pytest.raises(UsageError, match="no API key: set OPENAI_API_KEY or pass --api-key"):
            await client.request("GET", "/assistants")
    assert requests == []


async def test_timeouts_are_600_s_overall_and_5_s_to_connect():
    """What each request carries to the transport (httpx's per-request timeout extension)."""
    seen: list[dict[str, float]] = []
    transport = httpx.MockTransport(
        lambda r: seen.append(r.extensions["timeout"]) or httpx.Response(200, json={}))
    async with AssistantsClient(ClientSettings(api_key=KEY), transport=transport) as client:
        await client.request("GET", "/assistants")
    assert seen == [{"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0}]
