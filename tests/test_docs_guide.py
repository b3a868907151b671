"""The user guide's order, its table of defaults against the signatures, and plain words.

The table (``docs/user_guide.rst``, section "Defaults") is parsed as written: a
cell ````value```` must be the parameter's default (``ast.literal_eval``),
"required" a parameter without default, and an empty cell a parameter the
callable does not take. The oracle is ``inspect.signature`` of the code.
"""

import ast
import inspect
import re
from pathlib import Path

import pytest

import sklearn_coded

ROOT = Path(__file__).parents[1]
GUIDE = ROOT / "docs" / "user_guide.rst"


def _defaults_table():
    text = GUIDE.read_text()
    start = text.index(".. _defaults:")
    table = text[text.index(".. list-table::", start) :]
    rows, row = [], None
    for line in table.splitlines()[1:]:
        if line and not line.startswith(" "):
            break
        if line.startswith("   * -"):
            row = [line[len("   * -") :].strip()]
            rows.append(row)
        elif line.startswith("     -"):
            row.append(line[len("     -") :].strip())
    return rows[0], rows[1:]


def _callables(header):
    """The public callables a column header names (``CodedClassifier``, ``CodedRegressor``)."""
    return [getattr(sklearn_coded, name) for name in re.findall(r"``(\w+)``", header)]


def _parameter_names(cell):
    return re.findall(r"``(\w+)``", cell)


def _cells():
    header, rows = _defaults_table()
    for row in rows:
        assert len(row) == len(header), row
        for column, cell in zip(header[1:], row[1:], strict=True):
            for obj in _callables(column):
                yield obj, _parameter_names(row[0]), cell


def test_defaults_table_has_every_column_and_row():
    header, rows = _defaults_table()
    assert len(header) >= 8 and len(rows) >= 15
    names = {name for row in rows for name in _parameter_names(row[0])}
    assert {"points", "coded_loss", "mu", "n_coded", "smoothing", "noise_scale"} <= names


@pytest.mark.parametrize(
    ("obj", "names", "cell"),
    list(_cells()),
    ids=lambda value: getattr(value, "__name__", None) or str(value)[:24],
)
def test_documented_default_matches_the_signature(obj, names, cell):
    parameters = inspect.signature(obj).parameters
    present = [name for name in names if name in parameters]
    if not cell:
        assert not present, f"{obj.__name__} takes {present}: the table leaves the cell blank"
        return
    assert len(present) == 1, f"{obj.__name__}: none or several of {names} in its signature"
    default = parameters[present[0]].default
    if cell == "required":
        # make_coded_net marks keywords a plan= may supply instead with a sentinel
        required = default is inspect.Parameter.empty or repr(default) == "<required>"
        assert required, f"{obj.__name__}({present[0]}={default!r})"
        return
    literal = re.match(r"``(.+?)``", cell)
    assert literal, f"unparsable cell {cell!r}"
    assert ast.literal_eval(literal.group(1)) == default, (
        f"{obj.__name__}({present[0]}={default!r}) but the guide says {cell}"
    )
    assert type(ast.literal_eval(literal.group(1))) is type(default)


# Words that belong to the project's tracker or its history, not to a user's page.
JARGON = re.compile(
    r"\bissues? \d|\bissue's\b|\bthe issue\b|\(before\)|\bthis release\b|\buntil now\b"
    r"|\bbefore issue\b|\bissue \d+(\.\d+)?\b",
    flags=re.IGNORECASE,
)
USER_FACING = sorted(
    [
        *(ROOT / "docs").glob("*.rst"),
        ROOT / "README.md",
        ROOT / "benchmarks" / "README.md",
        ROOT / "examples" / "README.rst",
        *(ROOT / "examples").glob("*.py"),
    ]
)


@pytest.mark.parametrize("path", USER_FACING, ids=lambda path: path.name)
def test_user_facing_text_has_no_tracker_jargon(path):
    hits = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if JARGON.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_jargon_pattern_catches_what_it_must():
    for phrase in ("see issue 9", "the issue's target", "index (before)", "until this release"):
        assert JARGON.search(phrase), phrase
    for phrase in ("before the runs", "tissue 3", "an issue of scale"):
        assert not JARGON.search(phrase), phrase


def test_code_or_replicate_comes_first_and_choosing_follows_the_codes():
    index = (ROOT / "docs" / "index.rst").read_text()
    toctree = index[index.index(".. toctree::") :].split("\n\n")[1].split()
    assert toctree[:3] == ["code_or_replicate", "user_guide", "pitfalls"]
    guide = GUIDE.read_text()
    labels = ("codes", "choosing", "coded_prediction")
    positions = [guide.index(f".. _{label}:") for label in labels]
    assert positions == sorted(positions)
    # every cell of the decision table names a measurement or a marked slot for one
    page = (ROOT / "docs" / "code_or_replicate.rst").read_text()
    rows = page[page.index(".. list-table::") :].split("   * - ")[2:]
    assert len(rows) >= 6
    for row in rows:
        assert re.search(r"measured|Measured|\d\.\d|FRONTIER|PARM", row), row[:80]


def test_every_public_name_is_in_the_guide_or_marked_advanced():
    pages = ("user_guide", "security", "code_or_replicate", "pitfalls", "notation", "method")
    guide = "".join((ROOT / "docs" / f"{page}.rst").read_text() for page in pages)
    api = (ROOT / "docs" / "api.rst").read_text()
    advanced = api[api.index("*advanced*") : api.index("Coders (layer 2)")]
    unexplained = [
        name
        for name in sklearn_coded.__all__
        if not name.startswith("_")
        and not re.search(rf"\b{name}\b", guide)
        and f"``{name}``" not in advanced
    ]
    assert not unexplained, unexplained
