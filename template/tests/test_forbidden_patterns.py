"""The app's package contains none of the async SQLAlchemy anti-patterns in forbidden_patterns.

The sync and implicitly shared APIs are banned by import, by ruff (`banned-api` in
pyproject.toml); this test fails on the rest, which only the syntax tree shows.
"""

from tests.forbidden_patterns import check_package


def test_no_forbidden_patterns() -> None:
    findings = [str(finding) for finding in check_package()]

    assert findings == [], "\n".join(findings)
