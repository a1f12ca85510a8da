"""Fixtures of the security tests, reused from the other suites.

Playwright on Debian's Chromium (tests/e2e) and the real OpenSSH server (tests/remote).
"""

from tests.helpers.browser import browser, page  # noqa: F401
from tests.remote.conftest import known_hosts, sshd  # noqa: F401
