"""The batch file format (OpenAI's): one JSON request per line in, one JSON result per line out.

Input line: ``{"custom_id": str, "method": "POST", "url": "/v1/chat/completions" | "/infer",
"body": {...}}``. Output line: ``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error": {"code", "message"} | null}``. A line that cannot run (bad JSON, no custom_id,
a custom_id seen before, an unknown url, a streaming body) becomes a per-line error, never a
failed batch; only a file with no lines, or more lines than allowed, fails the batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from seethink.store.batch import BatchError, LineResult

ENDPOINTS: tuple[str, ...] = ("/v1/chat/completions", "/infer")
MAX_CUSTOM_ID_CHARS = 512


@dataclass(frozen=True)
class Line:
    """One runnable request line; ``line`` is its 1-based line number in the file."""

    line: int
    custom_id: str
    method: str
    url: str
    body: dict


def parse_lines(
    data: bytes, endpoint: str | None, max_lines: int, max_line_bytes: int
) -> tuple[list[Line], list[LineResult]]:
    """The runnable lines and the per-line errors of a batch file (blank lines are skipped).

    ``endpoint`` (the batch's) must match each line's url; None accepts any of ENDPOINTS.
    Raises BatchError when the whole file is unusable (empty, too many lines).
    """
    raws = [(i, raw) for i, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
    if not raws:
        raise BatchError(
            "the input file has no request lines",
        )
    if len(raws) > max_lines:
        raise BatchError(f"the input file has {len(raws)} request lines; the limit is {max_lines}")
    lines: list[Line] = []
    bad: list[LineResult] = []
    seen: dict[str, int] = {}
    for n, raw in raws:
        try:
            line = _parse_one(n, raw, endpoint, max_line_bytes)
        except _LineError as e:
            bad.append(LineResult(n, e.custom_id, 0, error={"code": e.code, "message": str(e)}))
            continue
        if line.custom_id in seen:
            # the first line with this custom_id runs; this one is reported without the id,
            # so every custom_id appears exactly once in the results
            msg = (
                f"line {n}: custom_id '{line.custom_id[:80]}' was already used on line "
                f"{seen[line.custom_id]}; custom_ids must be unique"
            )
            bad.append(
                LineResult(n, None, 0, error={"code": "duplicate_custom_id", "message": msg})
            )
            continue
        seen[line.custom_id] = n
        lines.append(line)
    return lines, bad


class _LineError(ValueError):
    def __init__(self, message: str, code: str, custom_id: str | None = None):
        super().__init__(message)
        self.code, self.custom_id = code, custom_id


def _parse_one(n: int, raw: bytes, endpoint: str | None, max_line_bytes: int) -> Line:
    if len(raw) > max_line_bytes:
        raise _LineError(
            f"line {n} is {len(raw)} bytes; the limit is {max_line_bytes}", "line_too_large"
        )
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise _LineError(f"line {n} is not valid JSON ({e})"[:300], "invalid_json") from None
    if not isinstance(obj, dict):
        raise _LineError(f"line {n} must be a JSON object", "invalid_json")
    cid = obj.get("custom_id")
    if not isinstance(cid, str) or not cid or len(cid) > MAX_CUSTOM_ID_CHARS:
        raise _LineError(
            f"line {n} needs a custom_id: a string of 1 to {MAX_CUSTOM_ID_CHARS} characters",
            "missing_custom_id",
        )
    method, url, body = obj.get("method", "POST"), obj.get("url"), obj.get("body")
    if method != "POST":
        raise _LineError(
            f"line {n}: method must be POST, not {str(method)[:20]!r}", "invalid_method", cid
        )
    allowed = (endpoint,) if endpoint else ENDPOINTS
    if url not in allowed:
        raise _LineError(
            f"line {n}: url {str(url)[:80]!r} is not served here; expected one of: "
            f"{', '.join(allowed)}",
            "invalid_url",
            cid,
        )
    if not isinstance(body, dict):
        raise _LineError(f"line {n}: body must be a JSON object", "invalid_body", cid)
    if body.get("stream"):
        raise _LineError(f"line {n}: stream is not supported in a batch", "invalid_body", cid)
    return Line(n, cid, method, url, body)


def result_record(batch_id: str, r: LineResult) -> dict:
    """One output/error file line (OpenAI's batch output format). The id is derived from the
    batch and line, so writing the files again gives the same bytes."""
    rid = hashlib.sha1(f"{batch_id}:{r.line}".encode()).hexdigest()[:24]
    response = None
    if r.status_code:
        response = {"status_code": r.status_code, "request_id": r.request_id, "body": r.body}
    error = r.error
    if error is None and not r.ok:
        err = (r.body or {}).get("error") if isinstance(r.body, dict) else None
        err = err if isinstance(err, dict) else {}
        error = {
            "code": err.get("code", "http_error"),
            "message": err.get("message", f"HTTP {r.status_code}"),
        }
    return {
        "id": f"batch_req_{rid}",
        "custom_id": r.custom_id,
        "response": response,
        "error": error,
    }


def to_jsonl(batch_id: str, results: list[LineResult]) -> bytes:
    return b"".join(
        json.dumps(result_record(batch_id, r), ensure_ascii=False).encode() + b"\n" for r in results
    )
