"""The package's layering, read from the source (nothing is imported): which layer may import which."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dsdn"
MAX_LINES = 470  # "about 450": a module past it is split by what its parts do


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(absolute module, imported names)`` of every ``import``/``from`` in ``path``, at any depth."""
    package = ["dsdn", *path.relative_to(SRC).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return found


def _modules(folder: str = "") -> list[Path]:
    return sorted((SRC / folder).rglob("*.py"))


def test_the_reader_of_imports_resolves_relative_ones():
    found = dict(_imports(SRC / "training" / "video.py"))  # (so that the checks below can fail)
    assert "list_checkpoints" in found["dsdn.training.runs"] and "dsdn_loss" in found["dsdn.objective"]
    assert "app" in dict(_imports(SRC / "__main__.py"))["dsdn.cli"]


@pytest.mark.parametrize("layer, forbidden", [
    ("evaluation", ("dsdn.training", "dsdn.cli")),
    ("training", ("dsdn.evaluation.speed", "dsdn.evaluation.benchmark", "dsdn.cli")),
])  # fmt: skip
def test_layers_point_one_way(layer, forbidden):
    bad = [(p.name, m) for p in _modules(layer) for m, _ in _imports(p) if m.startswith(forbidden)]
    assert not bad, f"{layer} imports {bad}"


def test_library_modules_do_not_import_the_command_line():
    library = [p for p in _modules() if "cli" not in p.relative_to(SRC).parts and p.name != "__main__.py"]
    bad = [(p.name, m) for p in library for m, _ in _imports(p) if m.startswith("dsdn.cli")]
    assert not bad


def test_no_module_reaches_into_another_ones_private_names():
    bad = []
    for path in _modules():
        for module, names in _imports(path):
            if module.startswith("dsdn") and (
                any(n.startswith("_") for n in names) or any(part.startswith("_") for part in module.split("."))
            ):
                bad.append((str(path.relative_to(SRC)), module, names))
    assert not bad


def test_no_module_is_long():
    long = {str(p.relative_to(SRC)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long


def test_one_module_picks_the_device():
    """``auto`` means the same device everywhere: only ``devices.py`` asks torch which accelerators exist
    (``dsdn info`` only names the GPU it reports)."""
    asking = {p.relative_to(SRC).as_posix() for p in _modules() if ".is_available()" in p.read_text(encoding="utf-8")}
    assert asking == {"devices.py", "cli/info.py"}
