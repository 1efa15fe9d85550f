"""The OpenAPI schema's error answers, written once for every operation (drf-spectacular
postprocessing hook, SPECTACULAR_SETTINGS): each operation lists every status code the
API's shared machinery can answer it with, with the body REST errors have.

Where each comes from: 400 the body or query checks; 401 no or a wrong token; 403 a
permission, a block, a room's members-only rule or a missing CSRF token; 404 absent or not
visible, a forged cursor, an id past 64 bits; 409 a state that does not allow it; 413 a
body over 1 MiB (messaging_site.asgi_limits); 429 a throttle, with `Retry-After`.
"""

import re

ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "machine-readable: `blocked`, `throttled`..."},
    },
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Field names, or `non_field_errors` / `detail`, to what is wrong.",
    "additionalProperties": True,
}
DESCRIPTIONS = {
    "400": "Invalid input: the fields and what is wrong with each.",
    "401": "Not authenticated (`WWW-Authenticate: Token`).",
    "403": "Authenticated but not allowed (`code` says why, e.g. `blocked`).",
    "404": "Absent, or not visible to you.",
    "409": "The current state does not allow it.",
    "413": "The request body is over 1 MiB.",
    "429": "Throttled; `Retry-After` says when to retry.",
}
# Operations whose services answer Conflict (messaging_site.errors): state machines.
CONFLICTS = re.compile(
    r"/(approve|reject|role|join|launch|cancel|requeue|read)/$|/members/|/conversations/\{[^}]+\}/$"
)
WRITES = {"post", "put", "patch", "delete"}


def _error(code: str) -> dict:
    schema = FIELD_ERRORS if code == "400" else ERROR
    answer: dict = {
        "description": DESCRIPTIONS[code],
        "content": {"application/json": {"schema": schema}},
    }
    if code == "429":
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answer


def document_errors(result, generator, request, public):
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in WRITES | {"get", "head"}:
                continue
            anonymous = {} in operation.get("security", [{}])
            codes = {"400"}
            if not anonymous:
                codes |= {"401", "403", "404"}
            if method in WRITES:
                codes |= {"413", "429"}
                if CONFLICTS.search(path):
                    codes.add("409")
            if anonymous and method == "post":
                codes.add("429")  # sign-up and sign-in count per address
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses.setdefault(code, _error(code))
    return result
