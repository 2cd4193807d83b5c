"""`syncer migrate`: mirrored threads become Conversations, with function calls kept.

    items.py     a mirrored thread as conversation items (calls and outputs at their place),
                 and what cannot be carried, with the reason
    mapping.py   migrate_map: thread → conversation per target, and the progress made
    plan.py      what a migration would do (mirror, map and read-only checks of the target)
    execute.py   create and fill the conversations, 20 items a request, crash-safe
"""
