"""The sub-packages import only downwards (docs/interfaces.md, "Layers"): a module may import its own
package and the layers below it, never a package of its own layer or above."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "prefixasr"
LAYERS = [{"common"}, {"checkpoints", "data", "losses"}, {"model"}, {"decode", "scoring"}, {"train", "inference"},
          {"bin"}]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _imported_packages(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "prefixasr":
            parts = node.module.split(".")
            if len(parts) > 1:
                yield parts[1]
            else:  # `from prefixasr import losses` imports a sub-package; `__version__` is the package's own
                yield from (a.name for a in node.names if a.name in RANK)
        elif isinstance(node, ast.Import):
            yield from (a.name.split(".")[1] for a in node.names if a.name.startswith("prefixasr."))


def test_every_package_is_in_a_layer():
    packages = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert packages == set(RANK), "add the new package to LAYERS (and to docs/interfaces.md)"


def test_no_import_runs_up_or_across():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1 and rel.stem == "__init__":
            continue  # the package's lazy `Transcriber` attribute is its public face, above everything
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for dst in _imported_packages(ast.parse(path.read_text(encoding="utf-8"))):
            if dst != own and RANK[dst] >= RANK[own]:
                bad.append(f"{rel} imports prefixasr.{dst}")
    assert not bad, "\n".join(bad)
