"""The rules that hold the code together (DESIGN.md), checked on the source: every module states
its job, public functions are annotated and functions short, and the layers import only down."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "crmss"
MODULES = {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.glob("*.py"))}
#: the longest a function may be; longer ones are split into steps that each do one thing
LONGEST = 60


def _functions(tree: ast.Module):
    """(qualified name, node, public) of every function and method, nested ones as private."""

    def visit(node, prefix: str, public: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.", public and not child.name.startswith("_"))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                dunder = child.name.startswith("__") and child.name.endswith("__")
                yield f"{prefix}{child.name}", child, public and (dunder or not child.name.startswith("_"))
                yield from visit(child, f"{prefix}{child.name}.", False)

    yield from visit(tree, "", True)


def _imports(tree: ast.Module) -> set[str]:
    """The modules ``tree`` imports, crmss's own by their name within the package."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "" if node.level == 0 else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_states_its_job(name):
    docstring = ast.get_docstring(MODULES[name])
    assert docstring and len(docstring.split()) >= 5, f"crmss/{name}.py: a module docstring saying what it does"


def test_every_public_function_is_annotated():
    missing = []
    for module, tree in MODULES.items():
        for name, node, public in _functions(tree):
            if not public:
                continue
            arguments = [a for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]
            arguments += [a for a in (node.args.vararg, node.args.kwarg) if a]
            bare = [a.arg for a in arguments if a.annotation is None] + (["return"] if node.returns is None and node.name != "__init__" else [])
            if bare:
                missing.append(f"crmss/{module}.py:{node.lineno} {name}: {', '.join(bare)}")
    assert not missing, "\n".join(missing)


def test_no_function_is_longer_than_the_rule():
    long = [
        f"crmss/{module}.py:{node.lineno} {name}: {node.end_lineno - node.lineno + 1} lines"
        for module, tree in MODULES.items()
        for name, node, _ in _functions(tree)
        if node.end_lineno - node.lineno + 1 > LONGEST
    ]
    assert not long, "\n".join(long)


def test_the_layers_import_only_downwards():
    command_line = {"cli", "demo", "__main__"}
    upward = [
        f"crmss/{m}.py imports {sorted(_imports(t) & command_line)}"
        for m, t in MODULES.items()
        if m not in command_line and _imports(t) & command_line
    ]
    assert not upward, upward
    # the networks know no files; blending geometry knows no model and no file
    assert not _imports(MODULES["model"]) & {"osgeo", "raster", "products", "granule", "files"}
    assert _imports(MODULES["blending"]) <= {"__future__", "numpy"}
    # reading products and preparing data need no TensorFlow (tests/test_prepare.py runs it)
    for module in ("names", "metadata", "products", "granule", "discovery", "raster", "tiling", "preparation", "results", "tables"):
        assert not _imports(MODULES[module]) & {"tensorflow", "keras", "model", "runner", "training"}, module


def test_module_level_imports_form_no_cycle():
    graph = {}
    for module, tree in MODULES.items():
        relative = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1]
        names = {n.module.split(".")[0] for n in relative if n.module} | {a.name for n in relative if not n.module for a in n.names}
        graph[module] = names & set(MODULES)
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for imported in sorted(graph[module]):
                visit(imported, (*path, module))
            done.add(module)

    for module in sorted(graph):
        visit(module, ())
