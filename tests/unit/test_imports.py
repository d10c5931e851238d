"""The packages' modules import each other without cycles, counting imports inside functions too:
an entry point imports the modules it runs, never the other way round."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package's own modules that `path` imports anywhere in it (a package's name counts as
    its __init__; `from package import module` as the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, if there is one."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None
    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", ["inference_service", "web_client", "maskscope"])
def test_no_import_cycles(package):
    files = [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    known = {module_name(p) for p in files}
    graph = {module_name(p): imports_of(p, known) - {module_name(p)} for p in files}
    for name in graph:  # a package imports nothing of its modules by being their parent
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    assert cycle(graph) is None, f"an import cycle: {' -> '.join(cycle(graph))}"


def test_the_services_parts_import_down_the_path_of_a_request_never_back_up_it():
    """Counted by part (a sub-package, or a module at the top), the service's imports have no
    cycle either: frontdoor imports pipeline, pipeline batching, batching runtimes; never back."""
    files = list((ROOT / "inference_service").rglob("*.py"))
    known = {module_name(p) for p in files}

    def part(name: str) -> str:
        return ".".join(name.split(".")[:2])
    graph: dict[str, set[str]] = {}
    for p in files:
        source = part(module_name(p))
        graph.setdefault(source, set()).update(part(m) for m in imports_of(p, known) if part(m) != source)
    graph.pop("inference_service", None)
    for targets in graph.values():
        targets.discard("inference_service")
    assert cycle(graph) is None, f"parts that import each other: {' -> '.join(cycle(graph))}"
