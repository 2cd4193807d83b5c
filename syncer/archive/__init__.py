"""`syncer backup / export / load / restore`: keep the mirror safe, move it, bring it back.

    backup.py    consistent single-file snapshots of the mirror (SQLite online backup)
    export.py    portable JSON Lines exports with a checksummed manifest, and loading them
    restore.py   pushing archived assistants, threads and messages into a server, with an id map
"""
