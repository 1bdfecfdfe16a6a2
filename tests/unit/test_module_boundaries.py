"""The walls between packages that import-linter cannot see: what the API process
actually loads, and the declared public names of every module other packages import."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import shared

_LOADED_BY_THE_API = """
import json, sys
import backend.main
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_api_loads_no_engine_pandas_or_compute_module() -> None:
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", _LOADED_BY_THE_API],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert "backend.main" in loaded
    forbidden = {"numba", "pandas", "pyarrow", "backend_services", "botclub"}
    assert [name for name in loaded if name.split(".")[0] in forbidden] == []


# Modules imported across a package boundary besides those of `shared`: each package's
# doors, and what the command line takes from the services.
_DOORS = [
    "backend_services.services.backtest.backtest_engine",
    "backend_services.services.backtest.backtest_service",
    "backend_services.market_data.importer",
    "backend_services.market_data.store",
    "backend_services.market_data.table_files",
    "backend_services.market_data.validation",
    "backend.config",
    "backend.stores.users",
    "botclub.local_stack",
]
_SHARED = [
    module.name
    for module in pkgutil.walk_packages(shared.__path__, prefix="shared.")
    if not module.ispkg
]


@pytest.mark.parametrize("name", _SHARED + _DOORS)
def test_modules_imported_across_packages_declare_their_public_names(name: str) -> None:
    module = importlib.import_module(name)
    public: list[str] = module.__all__
    assert public, f"{name}.__all__ is empty"
    assert [entry for entry in public if not hasattr(module, entry)] == []
