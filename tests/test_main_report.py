"""The main job's report panels and its seed, on small synthetic inputs (no training)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from sklearn_coded.cli import ATTACKS, attack_suite
from sklearn_coded.cli._report import (
    _attack_panel,
    _curve_panel,
    _straggler_panel,
    plot_report,
)

ROWS = [
    {"eps": 0.0, "plain": 0.97, "rci_min": 0.96, "rci_min_one_among_clean": 0.96},
    {
        "eps": 0.1, "plain": 0.05, "rci_min": 0.10, "rci_min_one_among_clean": 0.5,
        "white_box": 0.10, "eot": 0.10, "transfer": 0.10, "bpda": 0.10,
    },
]  # fmt: skip
CURVES = {
    "white_box": [(10, 1, 0.3), (40, 1, 0.2), (160, 1, 0.1), (160, 3, 0.1)],
    "eot": [(10, 1, 0.3), (40, 1, 0.1), (160, 1, 0.1), (160, 3, 0.1)],
    "transfer": [(10, 1, 0.2), (40, 1, 0.1), (160, 1, 0.1), (160, 3, 0.1)],
    "bpda": [(10, 1, 0.1), (40, 1, 0.1), (40, 3, 0.1)],  # stopped early
    "plain": [(10, 1, 0.05), (40, 1, 0.05), (40, 3, 0.05)],
}
RESULTS = {
    "K": 16, "N": 64, "grid_search": {"cv": [
        {"mu": 0.0, "n_coded": 24, "cv_accuracy": 0.95, "cv_std": 0.01},
        {"mu": 0.3, "n_coded": 24, "cv_accuracy": 0.96, "cv_std": 0.01},
    ]},
    "stragglers": {"rows": [
        {"S_share": share, "scheme": scheme, "agreement": 1.0 - share / 30}
        for share in (0.0, 0.1, 0.3) for scheme in ("spline", "berrut")
    ]},
    "attack": {"rows": ROWS, "curves": {"0.1": CURVES}},
}  # fmt: skip


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_convergence_panel_labels_every_stage_any_attack_ran(ax):
    _curve_panel(ax, RESULTS)
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels == ["10", "40", "160", "40x3", "160x3"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    # BPDA stopped at 40 steps: its restart point sits at "40x3", not at "160"
    assert list(np.round(lines["bpda"].get_xdata())) == [0, 1, 3]
    assert list(np.round(lines["white_box"].get_xdata())) == [0, 1, 2, 4]
    # eot and transfer end equal: drawn apart, not on top of each other
    assert not np.allclose(lines["eot"].get_xdata(), lines["transfer"].get_xdata())


def test_attack_panel_draws_coinciding_attacks_apart(ax):
    _attack_panel(ax, RESULTS)
    lines = [line for line in ax.get_lines() if line.get_label().startswith("RCI, ")]
    assert len(lines) == len(ATTACKS)
    styles = {(line.get_marker(), str(line.get_linestyle())) for line in lines}
    assert len(styles) == len(ATTACKS)  # each attack its own marker and dash
    xs = {tuple(np.round(line.get_xdata(), 6)) for line in lines}
    assert len(xs) == len(ATTACKS)  # equal accuracies are drawn side by side


def test_straggler_panel_shows_the_whole_accuracy_range(ax):
    _straggler_panel(ax, RESULTS)
    low, high = ax.get_ylim()
    assert low == 0 and 1 <= high <= 1.05


def test_plot_report_writes_the_png(tmp_path):
    assert plot_report(RESULTS, tmp_path).stat().st_size > 10_000


def test_attack_suite_is_reproduced_by_its_seed():
    """Two runs with one seed give the same curves and examples (ART's random starts
    come from numpy's global generator, which the suite seeds)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("art")
    from sklearn_coded.nn import CodedSmoothing

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(16, 8)).astype(np.float32)
    with torch.no_grad():
        labels = module(torch.as_tensor(X)).argmax(1).numpy()

    def accuracy(X_adv):
        with torch.no_grad():
            return float(np.mean(module(torch.as_tensor(X_adv)).argmax(1).numpy() == labels))

    def run():
        coder = CodedSmoothing(8, 16)
        return attack_suite(module, coder, X, labels, 0.2, [1], seed=3, rci_accuracy=accuracy)

    first = run()
    np.random.default_rng().random()  # unrelated draws between the runs change nothing
    np.random.seed(12345)  # noqa: NPY002 - the global generator another library moved
    second = run()
    for name in first:
        assert first[name]["curve"] == second[name]["curve"], name
        np.testing.assert_array_equal(first[name]["X_adv"], second[name]["X_adv"])
