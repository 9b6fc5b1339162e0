"""The error-code table in docs/errors.md is the code table the SDK carries, row for row."""

from __future__ import annotations

import re
from pathlib import Path

from kasha_async import CODE_TABLE, KashaErrorCode
from kasha_async._errors import error_from_response

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
ROW = re.compile(r"^\| (\d+) \| `(\w+)` \| (\w+) \| (.*?) \| `(\w+)` \|$", re.M)


def test_errors_doc_lists_every_code_as_the_sdk_does() -> None:
    """Every code of CODE_TABLE appears once in docs/errors.md with its name, status, reason."""
    rows = {int(m[1]): m.groups()[1:] for m in ROW.finditer(DOC.read_text(encoding="utf-8"))}
    assert set(rows) == set(CODE_TABLE)
    for code, (name, status, reason, raised_as) in rows.items():
        info = CODE_TABLE[code]
        assert (name, status, reason) == (KashaErrorCode(code).name, info.status, info.reason)
        answer = {"resultType": "error", "errors": {"code": code}}
        assert raised_as == type(error_from_response(400, answer, b"")).__name__
