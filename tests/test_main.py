"""The main job (python -m sklearn_coded) runs the whole story and reports it."""

import json

import pytest

from sklearn_coded.cli import build_parser, main


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    assert main(["--quick", "--report", str(folder), "--eps", "0", "0.1"]) == 0
    return folder, json.loads((folder / "results.json").read_text())


def test_report_folder_holds_results_and_plot(report):
    folder, results = report
    assert (folder / "report.png").stat().st_size > 10_000
    assert {row["mu"] for row in results["grid_search"]["cv"]} == {0.0, 0.3}
    assert {row["n_coded"] for row in results["grid_search"]["cv"]} == {24, 48}
    assert all(0.5 < row["cv_accuracy"] <= 1 for row in results["grid_search"]["cv"])


def test_spline_code_decodes_closer_than_berrut_as_stragglers_grow(report):
    _, results = report
    rows = results["stragglers"]["rows"]
    for S in {row["S"] for row in rows}:
        spline, berrut = (
            next(r for r in rows if r["S"] == S and r["scheme"] == scheme)
            for scheme in ("spline", "berrut")
        )
        assert spline["logit_rmse"] < berrut["logit_rmse"]
    assert max(r["S"] for r in rows) == round(0.3 * results["N"])


def test_attack_lowers_plain_accuracy(report):
    _, results = report
    clean, attacked = results["attack"]
    assert clean["eps"] == 0 and clean["plain"] == clean["rci_transfer"]
    assert attacked["plain"] < clean["plain"] - 0.1  # a real attack, really applied


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for action in build_parser()._actions:
        assert action.help and all(option in text for option in action.option_strings)


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", "fashion-mnist", "--data-home", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [(["--mu", "1.5"], "each mu must be in [0, 1]"), (["--stragglers", "1"], "straggler share")],
)
def test_bad_options_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err
