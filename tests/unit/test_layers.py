"""The package's shape: layers import downwards only, and no two modules import each other.

Read from the source with `ast` (every `import` counts, also those inside functions and under
TYPE_CHECKING), so a cycle cannot hide behind a lazy import. The layer order is the one
docs/architecture.md describes; an entry point (train, evaluate, prepare_data, compare, plan, gpu_check) may import
anything, nothing may import an entry point.
"""
from __future__ import annotations

import ast

from conftest import REPO

PACKAGE = REPO / "funcall"
LAYERS = [  # lowest first; a module may import its own layer and the ones before it
    {"utils", "dist", "logging"},
    {"calls"},
    {"envs"},
    {"bfcl"},
    {"data"},
    {"models", "rollout"},
    {"planning"},
    {"judges"},
    {"rewards", "losses", "advantages", "optim"},
    {"prepare", "eval"},
    {"agents"},
    {"trainers"},
]
ENTRY_POINTS = {"train", "evaluate", "prepare_data", "compare", "plan", "gpu_check"}


def module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == "funcall" or m.startswith("funcall.")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    return len(LAYERS) if package in ENTRY_POINTS | {"__main__"} else -1


def test_every_package_has_a_layer():
    packages = {top(m) for m in graph()} - {""}
    assert all(layer_of(p) >= 0 for p in packages), sorted(p for p in packages if layer_of(p) < 0)


def test_layers_import_downwards_only():
    wrong = [f"{src} -> {dst}" for src, dsts in graph().items() for dst in dsts
             if top(src) and top(dst) and top(src) != top(dst) and layer_of(top(dst)) > layer_of(top(src))]
    assert not wrong, "upward imports:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles_between_modules():
    # a package's __init__ that re-exports its own modules is not a cycle of code: drop those edges
    g = {m: {d for d in deps if not (d.startswith(m + ".") and (PACKAGE / m.split(".", 1)[1].replace(".", "/")).is_dir())}
         for m, deps in graph().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, cycles
