"""The main job's options: the parser, its checks (every usage error before any work), --quick."""

import argparse
import os
import sys
from pathlib import Path

DATA_SETS = ("digits", "fashion-mnist")
FASHION_MNIST_TRAIN = 60_000
#: The attacks on randomized coded inference; the robust accuracy is their minimum.
ATTACKS = ("white_box", "eot", "transfer", "bpda")
ATTACK_LABELS = {
    "white_box": "PGD through the random code",
    "eot": "EOT-PGD, 20 draws per gradient",
    "transfer": "transfer: PGD on the plain network",
    "bpda": "BPDA: plain network's gradient",
}
EOT_SAMPLES = 20
QUICK = {"epochs": 4, "cv": 2, "n_train": 1500, "n_attack": 200, "attack_steps": [5, 10]}


def program_name(argv0=None):
    """The name the job was called by: ``python -m sklearn_coded`` or the command's name."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(argv0)
    if name in ("__main__.py", "-m", "-c", "") or name.startswith("__main__"):
        return "python -m sklearn_coded"
    return name


def build_parser(prog=None):
    parser = argparse.ArgumentParser(
        prog=program_name() if prog is None else prog,
        description=(
            "Coded computing end to end: coded-smoothing training (GridSearchCV over mu "
            "and N), straggler-resilient prediction (LeTCC against BACC as stragglers "
            "grow), and randomized coded inference under adaptive attacks (the robust "
            "accuracy is the minimum over PGD through the code, EOT-PGD, transfer and "
            "BPDA)."
        ),
    )
    for title, add in (
        ("data and code", _data_options),
        ("coded-smoothing training (the grid search)", _training_options),
        ("prediction studies", _study_options),
        ("the run", _run_options),
    ):
        add(parser.add_argument_group(title))
    return parser


def _data_options(group):
    group.add_argument(
        "--data",
        choices=DATA_SETS,
        default="digits",
        help="digits: bundled with scikit-learn (default); fashion-mnist: local files from "
        "Debian's dataset-fashion-mnist package (see --data-home)",
    )
    group.add_argument(
        "--data-home",
        default=None,
        help="folder with the Fashion-MNIST idx files (default: /usr/share/datasets/"
        "fashion-mnist or $SKLEARN_CODED_FASHION_MNIST)",
    )
    group.add_argument(
        "--n-train", type=int, default=6000, help="Fashion-MNIST training images (default 6000)"
    )
    group.add_argument(
        "--batch-size", "-K", type=int, default=16, help="K, rows coded together (default 16)"
    )


def _training_options(group):
    group.add_argument(
        "--n-coded",
        "-N",
        type=int,
        nargs="+",
        default=[24, 48],
        help="values of N >= K, coded rows per batch, for the grid search (default 24 48)",
    )
    group.add_argument(
        "--mu",
        type=float,
        nargs="+",
        default=[0.0, 0.3],
        help="values of mu, the weight of the coded loss, for the grid search; 0 is plain "
        "training (default 0 0.3)",
    )
    group.add_argument(
        "--predict-n-coded",
        type=int,
        default=None,
        help="N >= K for the prediction studies (default 4K): training and prediction may "
        "code with different redundancy",
    )
    group.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    group.add_argument("--cv", type=int, default=3, help="cross-validation folds, >= 2 (default 3)")


def _study_options(group):
    group.add_argument(
        "--stragglers",
        type=float,
        nargs="+",
        default=[0.0, 0.1, 0.2, 0.3],
        help="shares of the N workers that never answer, one row each (default 0 0.1 0.2 0.3)",
    )
    group.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[0.05, 0.1],
        help="L-inf attack radii in (0, 1], on pixels in [0, 1]; clean accuracy is always "
        "reported (default 0.05 0.1)",
    )
    group.add_argument(
        "--attack-steps",
        type=int,
        nargs="+",
        default=[10, 40, 160],
        help="PGD step counts tried in turn for every attack, stopping once accuracy falls by "
        "less than half a point; then 3 random restarts at the last count (default 10 40 160)",
    )
    group.add_argument(
        "--n-attack",
        type=int,
        default=300,
        help="test images attacked (default 300; all test images are used for accuracy)",
    )


def _run_options(group):
    group.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: on a shared machine more threads spin "
        "against other processes; measured in the user guide)",
    )
    group.add_argument(
        "--report", default="report", help="folder for results.json and the plots (default report)"
    )
    group.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed in [0, 2**32) of every random draw: the split, the folds' networks, the "
        "stragglers, RCI's permutations and the attacks' random starts; two runs with one "
        "seed and --threads 1 write the same results.json up to its timing (default 0)",
    )
    group.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run of the pipeline: at most {QUICK['epochs']} epochs, {QUICK['cv']} CV "
        f"folds, {QUICK['n_train']} Fashion-MNIST training images, {QUICK['n_attack']} "
        f"attacked images and attack steps {' '.join(map(str, QUICK['attack_steps']))}",
    )


def check_args(parser, args):
    """Every usage error, before any work: ``parser.error`` names the option and value."""
    for name in ("n_train", "epochs", "n_attack", "threads"):
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {value}")
    if args.data == "fashion-mnist" and args.n_train > FASHION_MNIST_TRAIN:
        parser.error(
            f"--n-train must be <= {FASHION_MNIST_TRAIN} (Fashion-MNIST's training images); "
            f"got {args.n_train}"
        )
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be in [0, 2**32); got {args.seed}")
    if args.cv < 2:
        parser.error(f"--cv must be >= 2 folds; got {args.cv}")
    if args.batch_size < 2:
        parser.error(f"--batch-size must be >= 2; got {args.batch_size}")
    low = [n for n in args.n_coded if n < args.batch_size]
    if low:
        parser.error(
            f"--n-coded must be >= --batch-size ({args.batch_size}): fewer coded rows than "
            f"inputs cannot decode a batch; got {low}"
        )
    if args.predict_n_coded is not None and args.predict_n_coded < args.batch_size:
        parser.error(
            f"--predict-n-coded must be >= --batch-size ({args.batch_size}); got "
            f"{args.predict_n_coded}"
        )
    if not all(0 <= mu <= 1 for mu in args.mu):
        parser.error(f"each mu must be in [0, 1]; got {args.mu}")
    if not all(0 <= share < 1 for share in args.stragglers):
        parser.error(f"each straggler share must be in [0, 1); got {args.stragglers}")
    if not all(0 < eps <= 1 for eps in args.eps):
        parser.error(
            f"each --eps must be in (0, 1] (pixels are in [0, 1]; clean accuracy is always "
            f"reported); got {args.eps}"
        )
    if not all(steps >= 1 for steps in args.attack_steps):
        parser.error(f"each --attack-steps must be >= 1; got {args.attack_steps}")
    folder = Path(args.report)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        parser.error(f"--report {args.report!r} is not a writable folder: {error}")


def apply_quick(args):
    """Shrink the run for ``--quick``; returns what changed, as ``[(option, old, new)]``."""
    changes = []
    for name, value in (
        ("epochs", min(args.epochs, QUICK["epochs"])),
        ("cv", QUICK["cv"]),
        ("n_train", min(args.n_train, QUICK["n_train"])),
        ("n_attack", min(args.n_attack, QUICK["n_attack"])),
        ("attack_steps", QUICK["attack_steps"]),
    ):
        if getattr(args, name) != value:
            changes.append((f"--{name.replace('_', '-')}", getattr(args, name), value))
            setattr(args, name, value)
    return changes
