"""Talking to servers: the HTTP client, its retries and pagination, following runs, the models.

Imports only the foundation (``syncer.errors``, ``syncer.markers``) and libraries; every other
layer talks to a server through here.
"""
