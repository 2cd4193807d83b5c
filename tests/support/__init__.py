"""Code the test modules share: fakes, proxies, accounts, checks.

Test modules import from here (or use the fixtures in ``tests/conftest.py``), never from each
other; ``tests/test_isolation.py`` checks that. Nothing here is collected as a test (no
``test_*`` module names).
"""
