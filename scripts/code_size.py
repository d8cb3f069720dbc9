"""Module and function sizes of the stylaug package: the house-keeping figures.

    python scripts/code_size.py [--top N]

Prints the largest modules (lines) and the longest functions (lines from ``def`` to the last line
of the body, decorators excluded), so a module or function that has outgrown its job shows up.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stylaug"


def sizes(package: Path = PACKAGE) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    modules, functions = [], []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(package.parent).as_posix()
        modules.append((len(text.splitlines()), rel))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.name}"))
    return sorted(modules, reverse=True), sorted(functions, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    modules, functions = sizes()
    lengths = sorted(n for n, _ in functions)
    print(f"{len(modules)} modules, {sum(n for n, _ in modules)} lines; {len(functions)} functions, "
          f"median {lengths[len(lengths) // 2]} lines")  # fmt: skip
    print("largest modules:")
    for n, name in modules[: args.top]:
        print(f"  {n:5d}  {name}")
    print("longest functions:")
    for n, name in functions[: args.top]:
        print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main()
