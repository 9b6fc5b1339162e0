"""The sandbox's public names are exactly its sorted ``__all__``."""

from __future__ import annotations

import kasha_async.sandbox as sandbox


def test_all_is_sorted_and_importable() -> None:
    """Every name in __all__ exists and the list is sorted."""
    assert sandbox.__all__ == sorted(sandbox.__all__)
    assert all(hasattr(sandbox, name) for name in sandbox.__all__)


def test_every_public_object_has_a_docstring() -> None:
    """Each exported class and function documents itself."""
    missing = [
        name
        for name in sandbox.__all__
        if callable(getattr(sandbox, name)) and not getattr(sandbox, name).__doc__
    ]
    assert missing == []
