"""The app's package contains none of the async SQLAlchemy anti-patterns in forbidden_patterns."""

from tests.forbidden_patterns import check_package


def test_no_forbidden_patterns() -> None:
    findings = [str(finding) for finding in check_package()]

    assert findings == [], "\n".join(findings)
