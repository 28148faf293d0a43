"""The body of every error response: RFC 9457 problem details (`schemas.Problem`)."""

from http import HTTPStatus

from httpx import Response

INVALID = "The request is not valid; `errors` says where and why."


def problem(response: Response, detail: str, **extensions: object) -> dict[str, object]:
    """The problem details `response` should carry: its own status, `detail`, its request's path
    and id, and the extension members given.
    """
    return {
        "type": "about:blank",
        "title": HTTPStatus(response.status_code).phrase,
        "status": response.status_code,
        "detail": detail,
        "instance": response.request.url.path,
        "request_id": response.headers["x-request-id"],
        **extensions,
    }
