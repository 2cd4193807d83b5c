"""`syncer plan / apply / import / watch`: assistant configs as version-controlled YAML.

config (files → validated configs), plan (diff against the live account), apply (perform a
plan safely), importer (live assistants → files), watch (re-plan on every change),
schema (the JSON Schema of the file format).
"""
