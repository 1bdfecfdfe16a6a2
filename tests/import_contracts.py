"""An import-linter contract type the standard ones lack: an allow-list.

`allowed_imports`: the source packages may import directly only each other and the
modules listed (a listed module allows what is under it). A deny-list names what may
not come in and lets in anything new; an allow-list names what may, so the engine stays
pure however the project grows: adding an import to it is a decision written in
pyproject.toml, not a slip.
"""

from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output

__all__ = ["AllowedImportsContract"]


class AllowedImportsContract(Contract):
    type_name = "allowed_imports"

    source_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        sources: list[str] = list(self.source_modules)  # type: ignore[call-overload]
        allowed = [*sources, *self.allowed_modules]  # type: ignore[misc]
        refused: list[str] = []
        for importer in sorted(graph.modules):
            if not _within(importer, sources):
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if not _within(imported, allowed):
                    lines = sorted(
                        detail["line_number"]
                        for detail in graph.get_import_details(importer=importer, imported=imported)
                    )
                    refused.append(f"{importer} imports {imported} (line {lines[0]})")
        return ContractCheck(kept=not refused, metadata={"refused": refused})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["refused"]:
            output.print_error(f"- {line}, which is not allowed")
            output.new_line()


def _within(module: str, packages: list[str]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)
