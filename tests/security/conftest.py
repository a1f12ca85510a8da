"""Fixtures of the security tests, reused from the other suites.

The real OpenSSH server of tests/remote (Chromium and the app server come from tests/helpers).
"""

from tests.remote.conftest import known_hosts, sshd  # noqa: F401
