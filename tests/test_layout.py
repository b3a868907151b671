"""Modules that hold one concern: no source file over 600 lines, no function over 80.

A function's length is counted in code lines: the lines from its ``def`` to its
last line, less its docstring and blank lines (comments count). Nested functions
count in their parent too.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "sklearn_coded"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def code_lines(lines, node):
    """Lines of ``node`` without its docstring and blank lines."""
    first = node.body[0]
    doc = range(0)
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        doc = range(first.lineno, first.end_lineno + 1)
    return sum(
        1
        for line in range(node.lineno, node.end_lineno + 1)
        if line not in doc and lines[line - 1].strip()
    )


def sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), path.read_text()


def test_code_lines_counts_code_only():
    source = 'def f(x):\n    """Doc.\n\n    More.\n    """\n\n    # why\n    return x\n'
    node = ast.parse(source).body[0]
    assert code_lines(source.splitlines(), node) == 3  # def, comment, return


def test_no_file_over_600_lines():
    long = {name: text.count("\n") for name, text in sources() if text.count("\n") > MAX_FILE_LINES}
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


def test_no_function_over_80_code_lines():
    long = {}
    for name, text in sources():
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = code_lines(lines, node)
                if n > MAX_FUNCTION_LINES:
                    long[f"{name}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} code lines: {long}"
