"""syncer: local-first sync, GitOps, replay and migration for the Assistants API (v2) and its successor, the Responses API with Conversations."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("syncer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
