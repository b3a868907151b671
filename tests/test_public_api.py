"""Public names: every one imports from ``sklearn_coded``, is on the API page, names itself."""

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator

import sklearn_coded
from sklearn_coded.estimators._coded import _BaseCoded

ROOT = Path(__file__).parents[1]
SUBPACKAGES = ("coding", "operators", "execution", "estimators", "nn", "datasets")


def public_names():
    """name -> subpackage for every non-constant name in a subpackage's ``__all__``."""
    names = {}
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"sklearn_coded.{sub}")
        names.update({name: sub for name in module.__all__ if not name.isupper()})
    return names


def api_page_names():
    text = (ROOT / "docs" / "api.rst").read_text()
    modules = set(re.findall(r"^\.\. currentmodule:: (\S+)", text, flags=re.M))
    entries = re.findall(r"^   ([A-Za-z_]\w*)$", text, flags=re.M)
    return modules, entries


def test_every_public_name_imports_from_the_package():
    torch = pytest.importorskip("torch")  # the nn names need it
    assert torch
    expected = public_names()
    assert sorted(expected) == sorted(n for n in sklearn_coded.__all__ if n != "__version__")
    for name, sub in expected.items():
        module = importlib.import_module(f"sklearn_coded.{sub}")
        assert getattr(sklearn_coded, name) is getattr(module, name), name


def test_api_page_lists_the_package_names():
    modules, entries = api_page_names()
    assert modules == {"sklearn_coded"}
    assert len(entries) == len(set(entries))
    assert sorted(entries) == sorted(public_names())


def test_importing_the_package_imports_neither_torch_nor_dask():
    code = (
        "import sys; from sklearn_coded import SplineEncoder, CodedClassifier, run_workers, "
        "spline_operator; print(sorted({'torch', 'skorch', 'distributed'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'SplineEncodr'"):
        sklearn_coded.SplineEncodr  # noqa: B018


def estimator_classes():
    pytest.importorskip("torch")
    classes = []
    for name in public_names():
        obj = getattr(sklearn_coded, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, BaseEstimator)
            and not inspect.isabstract(obj)
            and not name.startswith("Base")
        ):
            classes.append(obj)
    return classes


def test_misspelled_argument_names_the_public_class():
    classes = estimator_classes()
    assert {"CodedClassifier", "CodedRegressor", "SplineEncoder"} <= {c.__name__ for c in classes}
    for cls in classes:
        required = [
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.name != "self"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        kwargs = dict.fromkeys(required, 2)
        with pytest.raises(TypeError, match=rf"^{cls.__name__}\.__init__\(\) got an unexpected"):
            cls(**kwargs, batch_sise=4)


def test_coded_estimators_declare_the_base_parameters():
    from sklearn_coded import CodedClassifier, CodedRegressor

    base = inspect.signature(_BaseCoded.__init__)
    assert inspect.signature(CodedClassifier.__init__) == base
    assert inspect.signature(CodedRegressor.__init__) == base
