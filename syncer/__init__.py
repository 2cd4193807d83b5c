"""syncer: local-first sync, GitOps and replay for the Assistants API (v2)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("syncer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
