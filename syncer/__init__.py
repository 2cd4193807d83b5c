"""syncer: local-first sync, GitOps, replay and migration for the Assistants API (v2) and its successor, the Responses API with Conversations."""

# The one place the version is written (pyproject.toml reads it): no importlib.metadata look-up
# at start-up, where it cost every command about 30 ms.
__version__ = "0.1.0"
