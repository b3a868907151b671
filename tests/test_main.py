"""The main job (python -m sklearn_coded) runs the whole story and reports it."""

import json
import subprocess
import sys

import pytest

from sklearn_coded.cli import (
    ATTACKS,
    apply_quick,
    build_parser,
    coinciding,
    main,
    program_name,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    argv = ["--quick", "--report", str(folder), "--eps", "0.1", "--n-attack", "100"]
    assert main(argv) == 0
    return folder, json.loads((folder / "results.json").read_text())


def test_report_folder_holds_results_and_plot(report):
    folder, results = report
    assert (folder / "report.png").stat().st_size > 10_000
    assert {row["mu"] for row in results["grid_search"]["cv"]} == {0.0, 0.3}
    assert {row["n_coded"] for row in results["grid_search"]["cv"]} == {24, 48}
    assert all(0.5 < row["cv_accuracy"] <= 1 for row in results["grid_search"]["cv"])
    assert results["threads"] == 1


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


def test_robust_accuracy_is_the_minimum_over_converged_attacks(report):
    _, results = report
    clean, attacked = results["attack"]["rows"]
    assert clean["eps"] == 0 and attacked["eps"] == 0.1
    assert attacked["plain"] < clean["plain"] - 0.1  # a real attack, really applied
    values = [attacked[name] for name in ATTACKS]
    assert attacked["rci_min"] == min(values) and attacked[attacked["strongest"]] == min(values)
    assert attacked["rci_min"] < clean["rci_min"] - 0.1
    among_clean = [attacked[f"{name}_one_among_clean"] for name in ATTACKS]
    assert attacked["rci_min_one_among_clean"] == min(among_clean)
    for name, curve in results["attack"]["curves"]["0.1"].items():
        steps = [step for step, restarts, _ in curve if restarts == 1]
        assert steps == sorted(steps) and steps[0] == 5, name  # --quick: steps 5, then 10
        assert curve[-1][:2] == [steps[-1], 3], name  # then restarts at the last count
        assert attacked[name] == min(accuracy for *_, accuracy in curve), name


def test_coinciding_groups_lines_that_agree_everywhere():
    rows = [{"a": 0.5, "b": 0.502, "c": 0.6}, {"a": 0.3, "b": 0.3, "c": 0.3}]
    assert coinciding(rows, ["a", "b", "c"]) == [["a", "b"]]


def test_quick_says_what_it_changes():
    args = build_parser().parse_args(["--epochs", "3"])
    changes = {option: (old, new) for option, old, new in apply_quick(args)}
    assert "--epochs" not in changes  # 3 is already below the quick limit
    assert changes["--cv"] == (3, 2) and changes["--attack-steps"] == ([10, 40, 160], [5, 10])


def test_help_explains_every_option_fast_and_by_the_name_it_was_called(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for action in build_parser()._actions:
        assert action.help and all(option in text for option in action.option_strings)
    assert program_name("/usr/local/bin/sklearn-coded") == "sklearn-coded"
    assert program_name("/x/sklearn_coded/__main__.py") == "python -m sklearn_coded"
    # --help imports neither torch nor scikit-learn (it answers in a fraction of a second)
    code = (
        "import sys, contextlib, io\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    import runpy; sys.argv = ['sklearn_coded', '--help']\n"
        "    runpy.run_module('sklearn_coded', run_name='__main__')\n"
        "print(out.getvalue().splitlines()[0]); print('torch' in sys.modules, "
        "'sklearn' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    usage, imported = result.stdout.splitlines()[:2]
    assert usage.startswith("usage: sklearn_coded")
    assert imported == "False False"
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_coded", "--help"], capture_output=True, text=True
    )
    assert result.stdout.startswith("usage: python -m sklearn_coded")


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", "fashion-mnist", "--data-home", str(tmp_path), "--report", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err and "--data-home" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mu", "1.5"], "each mu must be in [0, 1]"),
        (["--stragglers", "1"], "straggler share"),
        (["--eps", "0"], "each --eps must be in (0, 1]"),
        (["--eps", "-0.1"], "each --eps must be in (0, 1]"),
        (["--eps", "2"], "each --eps must be in (0, 1]"),
        (["--seed", "-1"], "--seed must be in [0, 2**32); got -1"),
        (["--n-train", "70000"], "--n-train must be <= 60000"),
        (["--epochs", "0"], "--epochs must be >= 1; got 0"),
        (["--n-train", "-5"], "--n-train must be >= 1; got -5"),
        (["--cv", "1"], "--cv must be >= 2 folds; got 1"),
        (["-K", "16", "-N", "8", "32"], "--n-coded must be >= --batch-size (16)"),
        (["-K", "16", "--predict-n-coded", "12"], "--predict-n-coded must be >= --batch-size"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--attack-steps", "0"], "--attack-steps must be >= 1"),
    ],
)
def test_bad_options_are_usage_errors_before_any_work(argv, message, capsys, tmp_path):
    # Fashion-MNIST is missing from tmp_path: the option error must come first.
    missing = ["--data", "fashion-mnist", "--data-home", str(tmp_path / "none")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, *missing, "--report", str(tmp_path / "report")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage:" in err


def test_unwritable_report_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["--report", str(blocker / "report")])
    assert exit_info.value.code == 2
    assert "--report" in capsys.readouterr().err
