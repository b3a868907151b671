"""Sphinx configuration: numpydoc, sphinx-gallery, pydata theme; builds offline with -W."""

import os

import sklearn_coded

project = "sklearn_coded"
author = "sklearn_coded developers"
copyright = "2026, sklearn_coded developers"
version = release = sklearn_coded.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
# Third-party docstrings cite labels of their own docs, unresolvable offline.
autodoc_default_options = {
    "members": True,
    # members inherited from these third-party bases stay out (ours stay in)
    "inherited-members": ",".join(
        [
            "BaseEstimator",
            "TransformerMixin",
            "OneToOneFeatureMixin",
            "ClassifierMixin",
            "RegressorMixin",
            "MetaEstimatorMixin",
            "Module",
            "NeuralNet",
        ]
    ),
    "exclude-members": ",".join(
        ["set_output", "get_metadata_routing"]
        + [
            f"set_{method}_request"
            for method in (
                "fit",
                "transform",
                "predict",
                "predict_proba",
                "predict_log_proba",
                "score",
                "decision_function",
                "partial_fit",
                "inverse_transform",
            )
        ]
    ),
}
# MathJax offline: Debian's libjs-mathjax (``apt-get install libjs-mathjax``, MathJax
# 2.7) when it is installed, else Sphinx's CDN default (raw ``\(f(x)\)`` offline).
# SKLEARN_CODED_MATHJAX overrides either (a URL or a path to MathJax.js).
LOCAL_MATHJAX = "/usr/share/javascript/mathjax/MathJax.js"
_mathjax = os.environ.get("SKLEARN_CODED_MATHJAX") or (
    LOCAL_MATHJAX if os.path.isfile(LOCAL_MATHJAX) else None
)
if _mathjax:
    if os.path.isfile(_mathjax):
        _mathjax = "file://" + os.path.abspath(_mathjax)
    if _mathjax.endswith("MathJax.js"):  # MathJax 2 loads its TeX setup by name
        _mathjax += "?config=TeX-AMS-MML_HTMLorMML"
    mathjax_path = _mathjax
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# intersphinx needs the network: it stays off so the build works offline.

# Examples run in a smoke mode (small sizes) unless SKLEARN_CODED_FULL_EXAMPLES=1.
os.environ.setdefault("SKLEARN_CODED_SMOKE", "1")
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" on every API page: the names the examples use, resolved
    # to the shortest public path (``sklearn_coded.CodedClassifier``).
    "doc_module": ("sklearn_coded",),
    "backreferences_dir": "gen_modules/backreferences",
}

html_theme = "pydata_sphinx_theme"
html_title = "sklearn_coded"
html_theme_options = {"navigation_with_keys": False, "show_prev_next": False}
html_static_path = []
templates_path = ["_templates"]  # class pages without the inherited-methods table
exclude_patterns = ["_build"]


def _public_alias(app, env, node, contnode):
    """Resolve ``sklearn_coded.<subpackage>.<Name>`` to the documented ``sklearn_coded.<Name>``.

    The API pages document every public name where users import it, the package
    itself; docstrings and pages that cite the subpackage path keep their links.
    """
    target = node.get("reftarget", "")
    parts = target.split(".")
    if node.get("refdomain") != "py" or len(parts) < 3 or parts[0] != "sklearn_coded":
        return None
    if parts[2] not in sklearn_coded.__all__:
        return None
    alias = ".".join(["sklearn_coded", *parts[2:]])
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], alias, node, contnode
    )


def setup(app):
    app.connect("missing-reference", _public_alias)
