"""Portable exports of the mirror: one JSON Lines file per table and a checksummed manifest.

Each line of ``assistants.jsonl``, ``threads.jsonl``, ``messages.jsonl``, ``runs.jsonl`` and
``run_steps.jsonl`` is the full API object as the server sent it (nested values as JSON,
not as the mirror's JSON text), with the mirror's bookkeeping beside it under ``_mirror``
(``first_seen_at``, ``last_seen_at``, ``deleted_at``). ``tracked_threads.jsonl``,
``meta.jsonl`` and ``restore_map.jsonl`` carry the registry of tracked threads, which server
the mirror belongs to, and the id map of earlier restores. Sync cursors and logs are not
exported: the first sync of a loaded mirror re-reads each list once and finds it complete. Lines keep the mirror's order, so ties in ``created_at`` load back in server order.

``manifest.json`` (written last, so an interrupted export has none) records the counts,
the source server, the export time, the syncer version and each file's SHA-256; ``load``
checks every checksum before it writes anything. All files are created owner-only (0600)
in an owner-only folder (0700).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncer import __version__
from syncer.errors import MirrorError, UsageError
from syncer.files import atomic_write
from syncer.mirror.rows import row_to_object, to_row
from syncer.mirror.schema import BOOKKEEPING
from syncer.mirror.store import Store, open_mirror

FORMAT = "syncer-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
OBJECT_TABLES = ("assistants", "threads", "messages", "runs", "run_steps")
# The thread registry, which server the mirror belongs to, and where restores put things (so
# restoring from a loaded copy still knows what it already created).
OTHER_TABLES = ("tracked_threads", "meta", "restore_map")


def row_to_line(table: str, row: sqlite3.Row) -> dict[str, Any]:
    """A mirror row as an export line: the API object plus ``_mirror`` bookkeeping."""

    values = dict(row)
    obj = row_to_object(table, values)
    obj["_mirror"] = {key: values.get(key) for key in BOOKKEEPING}
    return obj


@dataclass
class ExportResult:
    """What an export wrote."""

    directory: Path
    manifest: dict[str, Any]


def _is_export_file(path: Path) -> bool:
    """A file an export writes (or its temporary, left by an interrupted export)."""
    names = {f"{t}.jsonl" for t in OBJECT_TABLES + OTHER_TABLES} | {MANIFEST}
    # atomic_write's temporaries: ".NAME.XXXXXXXX.tmp"
    hidden = path.name.startswith(".") and path.name.endswith(".tmp")
    return path.name in names or (hidden and path.name[1:].rsplit(".", 2)[0] in names)


def _prepare_directory(directory: Path, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    if directory.is_dir():
        if (directory / MANIFEST).exists() and not force:
            raise UsageError(f"{directory}: already holds an export (use --force to replace it)")
        only_exports = all(_is_export_file(p) for p in directory.iterdir())
        if not only_exports and not force:
            raise UsageError(f"{directory}: not empty (use --force to write into it anyway)")
        # The old manifest goes first: an export interrupted from here on has none, so it is
        # never taken for a complete one (its checksums would name files being replaced).
        with contextlib.suppress(FileNotFoundError):
            (directory / MANIFEST).unlink()
        # An empty folder (or an old export) the user made with a permissive umask: an export
        # holds private conversations. A shared folder given with --force keeps its mode (the
        # files in it are owner-only anyway): chmod-ing, say, /tmp would break other users.
        if only_exports and directory.stat().st_uid == os.geteuid():
            directory.chmod(0o700)
    else:
        directory.mkdir(mode=0o700, parents=False)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _source(store: Store) -> dict[str, Any]:
    """Which server the mirror belongs to (its ``meta`` table: base_url, organization, …)."""
    return store.meta() if store.db["meta"].exists() else {}


def export(db_path: str | os.PathLike[str], directory: str | os.PathLike[str], *,
           force: bool = False, fmt: str = "jsonl") -> ExportResult:
    """Write the mirror at ``db_path`` as JSON Lines into ``directory``, manifest last."""
    if fmt != "jsonl":
        raise UsageError(f"--format {fmt}: unknown format (only jsonl)")
    out = Path(directory)
    store = open_mirror(db_path, "read")
    conn = store.conn
    conn.row_factory = sqlite3.Row
    tables: dict[str, Any] = {}
    written: list[Path] = []
    try:
        missing = [t for t in OBJECT_TABLES if not store.db[t].exists()]
        if missing:
            raise MirrorError(f"{db_path}: not a syncer mirror (no {', '.join(missing)} table)")
        _prepare_directory(out, force)
        # One read transaction for every table: the export is one moment of the mirror even
        # while a sync writes (WAL readers see a fixed snapshot).
        conn.execute("BEGIN")
        source = _source(store)
        for table in OBJECT_TABLES + OTHER_TABLES:
            if not store.db[table].exists():
                continue
            name = f"{table}.jsonl"
            final = out / name
            digest, count = hashlib.sha256(), 0
            # An interrupted export leaves no half-written file behind.
            with atomic_write(final) as handle:
                for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                    obj = row_to_line(table, row) if table in OBJECT_TABLES else dict(row)
                    line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                    handle.write(line)
                    digest.update(line)
                    count += 1
            written.append(final)
            tables[table] = {"file": name, "count": count, "sha256": digest.hexdigest()}
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as error:
        raise MirrorError(f"{db_path}: export failed ({error})") from None
    except OSError as error:  # no such parent folder, no permission, a full disk
        raise UsageError(f"{error.filename or out}: cannot write the export ({error.strerror or error})") from None
    finally:
        conn.close()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "syncer_version": __version__,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source": {"database": str(Path(db_path).resolve()), **source},
        "tables": tables,
    }
    try:
        with atomic_write(out / MANIFEST) as handle:
            handle.write((json.dumps(manifest, indent=2) + "\n").encode())
    except OSError as error:
        raise UsageError(f"{out / MANIFEST}: cannot write the export ({error.strerror or error})") from None
    return ExportResult(directory=out, manifest=manifest)


# --- load -------------------------------------------------------------------------------------


def verify_export(directory: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Path]]:
    """The manifest and each table's file, after checking every checksum and line count.

    Files are read in chunks (an export may be larger than memory). Raises ``UsageError``
    naming the first file that is missing or altered, before anything is written anywhere.
    """
    base = Path(directory)
    path = base / MANIFEST
    if not path.is_file():
        raise UsageError(f"{base}: no {MANIFEST} (not a syncer export, or an interrupted one)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"{path}: not a syncer export manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UsageError(f"{path}: format_version {manifest.get('format_version')!r} is not supported")
    tables = manifest.get("tables")
    if not isinstance(tables, dict):
        raise UsageError(f"{path}: tables: missing")
    # Every export lists the five API tables; a manifest without one was cut by hand.
    missing = [table for table in OBJECT_TABLES if table not in tables]
    if missing:
        raise UsageError(f"{path}: tables.{missing[0]}: missing (every export lists it)")
    files: dict[str, Path] = {}
    for table, entry in tables.items():
        if table not in OBJECT_TABLES + OTHER_TABLES or not isinstance(entry, dict):
            raise UsageError(f"{path}: tables.{table}: not a table syncer exports")
        file = base / str(entry.get("file", ""))
        if file.parent != base or not file.is_file():
            raise UsageError(f"{file}: missing (listed in {MANIFEST})")
        # resolve() follows symlinks: an export's files are its own, never a link out of it.
        if not file.resolve().is_relative_to(base.resolve()):
            raise UsageError(f"{file}: a link to a file outside the export; nothing loaded")
        digest, lines = hashlib.sha256(), 0
        try:
            with file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    lines += chunk.count(b"\n")
        except OSError as error:
            raise UsageError(f"{file}: cannot read it ({error.strerror or error})") from None
        if digest.hexdigest() != entry.get("sha256"):
            raise UsageError(f"{file}: checksum mismatch: the file changed after the export; nothing loaded")
        if lines != entry.get("count"):
            raise UsageError(f"{file}: {lines} lines, the manifest says {entry.get('count')}")
        files[table] = file
    return manifest, files


def iter_lines(file: Path, table: str) -> Iterator[dict[str, Any]]:
    """The objects of one export file, one per line; a bad line is a UsageError with its number."""
    with file.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                obj = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as error:
                raise UsageError(f"{file}:{number}: not UTF-8 text ({error.reason} at byte "
                                 f"{error.start})") from None
            except ValueError as error:
                raise UsageError(f"{file}:{number}: not valid JSON ({error})") from None
            except RecursionError:
                raise UsageError(f"{file}:{number}: not valid JSON (nested too deeply)") from None
            if not isinstance(obj, dict) or (table in OBJECT_TABLES and not isinstance(obj.get("id"), str)):
                raise UsageError(f"{file}:{number}: id: expected an object with a string id")
            yield obj


@dataclass
class LoadResult:
    """What a load did, per table: rows added, rows updated, rows already as in the export."""

    database: Path
    tables: dict[str, dict[str, int]]
    refused_fields: list[str] = field(default_factory=list)  # "table.field": not safe as columns


def load(directory: str | os.PathLike[str], db_path: str | os.PathLike[str], *,
         force: bool = False) -> LoadResult:
    """Load an export into a new or existing mirror, idempotently, in one transaction.

    Every checksum is verified before the mirror is opened, and the load is one transaction:
    on any error the mirror is as it was (a mirror this load created is removed again).
    Loading the same export twice changes nothing; where the mirror already holds a newer copy
    of an object (a later ``last_seen_at``), the mirror's copy is kept. An export of another
    server's mirror is refused unless ``force``.
    """

    manifest, files = verify_export(directory)
    source = manifest.get("source") or {}
    created = not Path(db_path).exists()
    store = open_mirror(db_path, "create")
    db = store.db
    stats: dict[str, dict[str, int]] = {}
    refused: list[str] = []
    ok = False
    try:
        current = store.meta()
        if current.get("base_url") and source.get("base_url") and not force:
            for key in ("base_url", "organization", "project"):
                if (current.get(key) or "") != (source.get(key) or ""):
                    raise MirrorError(
                        f"{db_path} mirrors {key} {current.get(key) or '(none)'!r}, the export "
                        f"{source.get(key) or '(none)'!r}; use another --db, or --force"
                    )

        def rows(table: str) -> Iterator[dict[str, Any]]:
            return iter_lines(files[table], table) if table in files else iter(())

        # One transaction around everything: Store's own transactions nest inside it, and a
        # failure part-way leaves the mirror exactly as it was.
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            for table in OBJECT_TABLES:
                stats[table] = _load_objects(store, table, rows(table), refused)
            for row in rows("tracked_threads"):
                db.execute("INSERT OR IGNORE INTO tracked_threads (id, added_at, source) VALUES (?, ?, ?)",
                           [row.get("id"), row.get("added_at"), row.get("source")])
            for row in rows("restore_map"):
                # Keep what the mirror knows already: its own restores are at least as recent.
                db.execute(
                    "INSERT OR IGNORE INTO restore_map (kind, source_id, target, target_id, status,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [row.get(k) for k in ("kind", "source_id", "target", "target_id", "status",
                                          "updated_at")])
            if not current.get("base_url"):
                for row in rows("meta"):
                    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                               [row.get("key"), row.get("value")])
            db.conn.execute("COMMIT")
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        ok = True
    except sqlite3.DatabaseError as error:
        raise MirrorError(f"{db_path}: load failed, nothing written ({error})") from None
    finally:
        store.close()
        if created and not ok:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{db_path}{suffix}").unlink()
    return LoadResult(database=Path(db_path), tables=stats, refused_fields=refused)


def _load_objects(store: Any, table: str, lines: Iterable[dict[str, Any]],
                  refused: list[str]) -> dict[str, int]:
    """Write one table's lines through the store, a page at a time."""
    result = {"added": 0, "updated": 0, "unchanged": 0}
    page: list[dict[str, Any]] = []
    for line in lines:
        page.append(line)
        if len(page) == 500:
            _load_page(store, table, page, result, refused)
            page = []
    if page:
        _load_page(store, table, page, result, refused)
    return result


def _load_page(store: Any, table: str, lines: list[dict[str, Any]], result: dict[str, int],
               refused: list[str]) -> None:
    """Upsert one page of export lines, then put back their bookkeeping."""

    db = store.db
    marks = ", ".join("?" * len(lines))
    cursor = db.conn.execute(f"SELECT * FROM [{table}] WHERE id IN ({marks})",
                             [line["id"] for line in lines])
    names = [d[0] for d in cursor.description]
    existing = {found["id"]: found for found in (dict(zip(names, row, strict=True)) for row in cursor)}
    objects, bookkeeping = [], []
    for line in lines:
        obj = dict(line)
        kept = obj.pop("_mirror", None) or {}
        old = existing.get(obj["id"])
        if old is not None:
            if kept.get("last_seen_at") and (old.get("last_seen_at") or "") > kept["last_seen_at"]:
                result["unchanged"] += 1  # the mirror has a newer copy than the export
                continue
            same = all(old.get(key) == value for key, value in to_row(table, obj).items())
            if same and old.get("deleted_at") == kept.get("deleted_at"):
                result["unchanged"] += 1
                continue
        objects.append(obj)
        bookkeeping.append((obj["id"], kept))
    if not objects:
        return
    written = store.write_page(table, objects)
    refused.extend(name for name in written.refused if name not in refused)
    result["added"] += len(written.new)
    result["updated"] += len(written.changed) + len(written.unchanged)
    for object_id, kept in bookkeeping:
        # write_page stamps "now"; the archive's own history is what the export recorded.
        db.execute(
            f"UPDATE [{table}] SET first_seen_at = min(coalesce(?, first_seen_at), first_seen_at),"
            " last_seen_at = coalesce(?, last_seen_at), deleted_at = ? WHERE id = ?",
            [kept.get("first_seen_at"), kept.get("last_seen_at"), kept.get("deleted_at"), object_id],
        )
