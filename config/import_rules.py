"""import-linter contracts of our own ([tool.importlinter] in pyproject.toml).

`PrivateNamesStayHome`: a name starting with one underscore is its module's business. No
module of our packages imports such a name from another module (`from x import _y`); what
others need gets a public name.
"""

import ast
from pathlib import Path

from importlinter.application import output
from importlinter.domain.contract import Contract, ContractCheck

Violation = tuple[str, int, str, str]  # importer, line, name, imported module


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _source_path(module: str) -> Path | None:
    # lint-imports runs from the project's root, where the root packages are folders.
    base = Path(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(module: str) -> dict[int, list[tuple[str, str]]]:
    """Line → (module imported from, name) for every `from … import …` of the module."""
    path = _source_path(module)
    if path is None:
        return {}
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[int, list[tuple[str, str]]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        source = node.module or ""
        if node.level:  # relative: from the importer's package, `level` steps up
            package = module.split(".")
            package = package if is_package else package[:-1]
            package = package[: len(package) - (node.level - 1)]
            source = ".".join([*package, source] if source else package)
        for alias in node.names:
            found.setdefault(node.lineno, []).append((source, alias.name))
    return found


class PrivateNamesStayHome(Contract):
    def check(self, graph, verbose: bool) -> ContractCheck:
        roots = tuple(self.session_options["root_packages"])
        ours = {m for m in graph.modules if m.split(".")[0] in roots}
        violations: list[Violation] = []
        for importer in sorted(ours):
            lines = None
            for imported in sorted(graph.find_modules_directly_imported_by(importer) & ours):
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    # line_contents holds only the first line of a parenthesised import:
                    # the names come from the importer's syntax tree, found by line.
                    if lines is None:
                        lines = _imported_names(importer)
                    for source, name in lines.get(detail["line_number"], []):
                        if not _is_private(name) or source == importer:
                            continue
                        if source == imported or f"{source}.{name}" == imported:
                            violations.append((importer, detail["line_number"], name, source))
        return ContractCheck(kept=not violations,
                             metadata={"violations": sorted(set(violations))})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line, name, source in check.metadata["violations"]:
            output.print_error(f"{importer}:{line} imports the private name {name} from "
                               f"{source}", bold=False)
        output.new_line()
