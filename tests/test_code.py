"""The rules that hold the code together (DESIGN.md), checked on the source: every module states
its job, public functions are annotated and functions short, module-level imports form no cycle.
That the stages import one way is checked by import-linter's contracts (pyproject.toml,
``make lint``); a test here runs it, and checks that a broken contract is seen."""

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, cloudy_product
from crmss.core.options import PredictOptions

PACKAGE = Path(__file__).resolve().parents[1] / "crmss"
#: every module by its path in the package without ``.py`` ("io/products", "cli")
MODULES = {
    path.relative_to(PACKAGE).with_suffix("").as_posix(): ast.parse(path.read_text(), str(path))
    for path in sorted(PACKAGE.rglob("*.py"))
}
#: the most statements a function may hold, each counted once however the formatter wraps it
#: (the rule was 60 lines at 150 columns, which the longest function then met with 49
#: statements); longer ones are split into steps that each do one thing
LONGEST = 50


def _functions(tree: ast.Module):
    """(qualified name, node, public) of every function and method, nested ones as private."""

    def visit(node, prefix: str, public: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(
                    child, f"{prefix}{child.name}.", public and not child.name.startswith("_")
                )
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                dunder = child.name.startswith("__") and child.name.endswith("__")
                yield (
                    f"{prefix}{child.name}",
                    child,
                    public and (dunder or not child.name.startswith("_")),
                )
                yield from visit(child, f"{prefix}{child.name}.", False)

    yield from visit(tree, "", True)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_states_its_job(name):
    docstring = ast.get_docstring(MODULES[name])
    assert docstring and len(docstring.split()) >= 5, (
        f"crmss/{name}.py: a module docstring saying what it does"
    )


def test_every_public_function_is_annotated():
    missing = []
    for module, tree in MODULES.items():
        for name, node, public in _functions(tree):
            if not public:
                continue
            arguments = [
                a
                for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if a.arg not in ("self", "cls")
            ]
            arguments += [a for a in (node.args.vararg, node.args.kwarg) if a]
            bare = [a.arg for a in arguments if a.annotation is None] + (
                ["return"] if node.returns is None and node.name != "__init__" else []
            )
            if bare:
                missing.append(f"crmss/{module}.py:{node.lineno} {name}: {', '.join(bare)}")
    assert not missing, "\n".join(missing)


def _statements(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines on which a statement of ``function`` begins, its docstring left out."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    starts = {node.lineno for part in body for node in ast.walk(part) if isinstance(node, ast.stmt)}
    return len(starts)


def test_no_function_is_longer_than_the_rule():
    long = [
        f"crmss/{module}.py:{node.lineno} {name}: {_statements(node)} statements"
        for module, tree in MODULES.items()
        for name, node, _ in _functions(tree)
        if _statements(node) > LONGEST
    ]
    assert not long, "\n".join(long)


def test_the_import_contracts_hold_and_are_not_vacuous(tmp_path):
    """lint-imports keeps every contract of pyproject.toml, and breaks one when a module of the
    TensorFlow-free stages imports TensorFlow (a copy of the package, so the check is seen to
    bite)."""
    run = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "0 broken" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
    shutil.copytree(PACKAGE, tmp_path / "crmss")
    shutil.copy(PACKAGE.parent / "pyproject.toml", tmp_path)
    with open(tmp_path / "crmss" / "io" / "names.py", "a") as names:
        names.write("\nimport tensorflow  # noqa\n")
    run = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert (
        run.returncode == 1
        and "Reading products and preparing data need no TensorFlow BROKEN" in run.stdout
    ), run.stdout[-3000:]


def _targets(module: str, node: ast.ImportFrom) -> list[str]:
    """The package modules (MODULES keys) a relative ``from ... import`` in ``module`` names."""
    base = module.split("/")[: -node.level] if module.count("/") >= node.level else []
    if node.module:
        return ["/".join([*base, *node.module.split(".")])]
    return ["/".join([*base, alias.name]) for alias in node.names]


def test_module_level_imports_form_no_cycle():
    graph = {}
    for module, tree in MODULES.items():
        graph[module] = {
            target
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.level
            for target in _targets(module, node)
        } & set(MODULES)
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for imported in sorted(graph[module]):
                visit(imported, (*path, module))
            done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_predicts_options_are_read_in_a_walk_of_six_climbs_or_fewer(products, trained, tmp_path):
    """Issue 30's measure (scripts/option_walk.py): the files that read ``PredictOptions``' fields
    during a run, in order; a step back into a file the walk had left is a climb."""
    spec = importlib.util.spec_from_file_location("option_walk", REPO / "scripts/option_walk.py")
    assert spec and spec.loader
    option_walk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(option_walk)
    options = PredictOptions(
        [cloudy_product(products(0))], trained / "run", tmp_path, tile=512, progress=False
    )
    steps = option_walk.walk(options)
    read = {name for _, names in steps for name in names}
    assert {"tile", "overlap", "mask", "precision", "compress"} <= read, steps
    assert option_walk.climbs(steps) <= 6, steps
    assert list(tmp_path.glob("*_CR_10m.tif"))  # the walk was of a whole run
