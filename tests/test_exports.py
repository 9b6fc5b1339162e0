"""The public surface: one sorted ``__all__`` that names everything meant to be public."""

from __future__ import annotations

import inspect
import subprocess
import sys
from types import ModuleType

import attrs
import pytest

import kasha_async
from kasha_async import _client, _codes, _errors, _http, _models, _retry


def defined_in(module: ModuleType) -> dict[str, object]:
    """Public (non-underscore) classes and functions whose home is ``module``."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


def test_every_name_in_all_exists() -> None:
    """Every name listed in ``__all__`` can be imported from the package."""
    missing = [name for name in kasha_async.__all__ if not hasattr(kasha_async, name)]
    assert missing == []


def test_all_is_sorted_without_duplicates() -> None:
    """``__all__`` is in plain sorted order (upper case first) and lists each name once."""
    assert kasha_async.__all__ == sorted(kasha_async.__all__)
    assert len(set(kasha_async.__all__)) == len(kasha_async.__all__)


def test_exported_members_say_they_are_kasha_async() -> None:
    """Exported classes come from the package's own private modules."""
    for name in kasha_async.__all__:
        value = getattr(kasha_async, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.startswith("kasha_async."), name


def test_every_exception_is_exported() -> None:
    """Every exception class of ``_errors`` is public."""
    exceptions = {
        name
        for name, value in defined_in(_errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    assert "KashaError" in exceptions
    assert exceptions - set(kasha_async.__all__) == set()


def test_every_model_is_exported() -> None:
    """Every public attrs class of ``_models`` is public."""
    models = {
        name
        for name, value in defined_in(_models).items()
        if inspect.isclass(value) and attrs.has(value)
    }
    assert {"Transaction", "SubmitRequest", "Refund"} <= models
    assert models - set(kasha_async.__all__) == set()


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (_codes, {"CodeInfo", "KashaErrorCode", "TransactionStatus", "SettleAction"}),
        (_client, {"KashaClient", "Payments", "Payouts", "Refunds", "Transactions"}),
        (_http, {"Timeout"}),
        (_retry, {"RetryBudget", "RetryStats", "set_testing"}),
    ],
)
def test_user_facing_names_are_exported(module: ModuleType, names: set[str]) -> None:
    """Enums, the client and its resources, Timeout and the retry knobs are public."""
    assert names <= set(defined_in(module))
    assert names <= set(kasha_async.__all__)


def test_version_is_exported() -> None:
    """``__version__`` is a public dotted version string."""
    assert "__version__" in kasha_async.__all__
    assert all(part.isdigit() for part in kasha_async.__version__.split("."))


#: Modules ``import kasha_async`` must not load (issue 13, point 7).
HEAVY = ("kasha_async.batch", "kasha_async.sandbox", "sqlite3", "asyncpg", "rich")


def test_import_loads_no_batch_sandbox_sqlite_asyncpg_or_rich() -> None:
    """A fresh ``import kasha_async`` loads none of the batch, sandbox, sqlite3, asyncpg, rich."""
    code = (
        "import sys, kasha_async; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m.startswith({HEAVY[:2]!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_batch_names_load_on_first_use_and_stay_listed() -> None:
    """run_payouts, approve_held and PayoutItem are in __all__ and dir(), and load when used."""
    code = (
        "import sys, kasha_async; "
        "listed = {'run_payouts', 'approve_held', 'PayoutItem'} <= set(dir(kasha_async)); "
        "from kasha_async import run_payouts; "
        "print(listed, 'kasha_async.batch' in sys.modules, run_payouts.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    listed, loaded, home = out.stdout.split()
    assert (listed, loaded) == ("True", "True")
    assert home.startswith("kasha_async.batch")
    assert {"run_payouts", "approve_held", "PayoutItem"} <= set(kasha_async.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not export raises AttributeError naming it."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = kasha_async.no_such_name
