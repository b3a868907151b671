"""The main job: the whole story of coded computing on one data set, in minutes.

``python -m sklearn_coded`` (or the ``sklearn-coded`` command) runs, on the digits
bundled with scikit-learn unless ``--data fashion-mnist`` is given:

1. coded-smoothing training: GridSearchCV over mu and N for a skorch network
   wrapped in :class:`~sklearn_coded.estimators.CodedClassifier`;
2. straggler-resilient prediction with the best network: the spline code (LeTCC)
   against the Berrut code (BACC) on the same points as the stragglers S grow;
3. randomized coded inference (RCI) under an adaptive evaluation (docs/method.rst 7):
   L-inf PGD attacks from the adversarial-robustness-toolbox, white-box through the
   random code, EOT over 20 draws, transfer from the plain network and BPDA (the
   coding step's gradient replaced by the plain network's), each run with more
   steps and then restarts until the accuracy stops falling. The robust accuracy
   is the minimum over the attacks, for two threat models: the whole batch is
   adversarial, or one adversarial request is coded among K - 1 clean ones.

The package holds one concern per module: ``_options`` (the parser and its
checks), ``_studies`` (data, grid search, stragglers, attacks), ``_network`` (the
MLP, the only module that imports torch at import time) and ``_report`` (plot and
tables). Every option is checked before any work starts. It prints a results table and
writes ``results.json`` and ``report.png`` into a report folder. torch and the other
extras are imported only once the options are valid, so ``--help`` is instant.
"""

import json
import time
from pathlib import Path

from ._options import (
    ATTACK_LABELS,
    ATTACKS,
    DATA_SETS,
    EOT_SAMPLES,
    QUICK,
    apply_quick,
    build_parser,
    check_args,
    program_name,
)
from ._report import coinciding, plot_report, print_table
from ._studies import (
    attack_study,
    attack_suite,
    grid_search,
    load_data,
    network_logits,
    one_among_clean,
    straggler_study,
)

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "DATA_SETS",
    "EOT_SAMPLES",
    "QUICK",
    "apply_quick",
    "attack_study",
    "attack_suite",
    "build_parser",
    "check_args",
    "coinciding",
    "grid_search",
    "load_data",
    "main",
    "network_logits",
    "one_among_clean",
    "plot_report",
    "print_table",
    "program_name",
    "straggler_study",
]


def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.quick:
        changes = apply_quick(args)
        said = ", ".join(f"{option} {old} -> {new}" for option, old, new in changes)
        print(f"--quick: {said or 'nothing to shrink'}")
    try:
        import torch
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - the torch extra brings tqdm
        parser.error("the main job needs the extras: pip install 'sklearn_coded[all]'")
    torch.set_num_threads(args.threads)
    try:
        X_train, X_test, y_train, y_test = load_data(args)
    except FileNotFoundError as error:
        parser.exit(
            2,
            f"{parser.prog}: error: {error}\nOr point --data-home at a folder with the four "
            "Fashion-MNIST idx files.\n",
        )
    from ..coding import get_scheme

    start = time.perf_counter()
    model, best, grid = grid_search(args, X_train, y_train, tqdm)
    # Prediction may use more redundancy than training; the points are set
    # explicitly because the attacker's code must match the estimator's: the
    # spline code's non-systematic layout, since a systematic one puts K coded
    # points on the rows themselves and leaves randomized inference nothing to mix.
    predict_n_coded = args.predict_n_coded or 4 * args.batch_size
    model.set_params(n_coded=predict_n_coded, points=get_scheme("spline").fallback_points)
    plain, straggler_rows = straggler_study(args, model, X_test, y_test, tqdm)
    attack_rows, curves = attack_study(args, model, X_test, y_test, tqdm)
    results = {
        "data": args.data,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "K": args.batch_size,
        "N": int(model.n_coded),
        "cv": args.cv,
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": args.threads,
        "grid_search": {"best": best, "cv": grid},
        "stragglers": {"plain_accuracy": plain, "rows": straggler_rows},
        "attack": {
            "rows": attack_rows,
            "curves": curves,
            "n_attacked": min(args.n_attack, len(X_test)),
            "eot_samples": EOT_SAMPLES,
        },
        "seconds": time.perf_counter() - start,
    }
    folder = Path(args.report)
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    plot = plot_report(results, folder)
    print_table(results)
    print(f"\n{results['seconds']:.0f} s; wrote {folder / 'results.json'} and {plot}")
    return 0
