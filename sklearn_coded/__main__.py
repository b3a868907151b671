"""``python -m sklearn_coded``: coded computing on the digits bundled with scikit-learn.

A batch of K digit images is encoded into N coded images, a classifier (the
"expensive" f) runs on each, S random workers straggle, and the K results are
decoded from the rest. The spline code (LeTCC) is printed next to the Berrut code
(BACC) on the same points.
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_coded.coding import CODERS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_coded",
        description="Straggler-resilient coded prediction on scikit-learn's digits.",
    )
    parser.add_argument("--batch-size", "-K", type=int, default=16, help="K, rows per batch")
    parser.add_argument("--n-coded", "-N", type=int, default=64, help="N, workers per batch")
    parser.add_argument(
        "--stragglers",
        "-S",
        type=int,
        nargs="+",
        default=[0, 3, 6, 13],
        help="numbers S of workers that do not return (each a row of the table)",
    )
    parser.add_argument("--n-batches", type=int, default=40, help="random test batches")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    args = parser.parse_args(argv)
    if args.batch_size < 2 or args.n_coded < 2:
        parser.error(f"need K >= 2 and N >= 2; got K={args.batch_size}, N={args.n_coded}")
    if any(not 0 <= s <= args.n_coded - 2 for s in args.stragglers):
        parser.error(f"each S must be in [0, N - 2]; got {args.stragglers}")
    return args


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=args.seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(X_train, y_train)
    K, N = args.batch_size, args.n_coded
    batches = [rng.choice(len(X_test), K, replace=False) for _ in range(args.n_batches)]
    print(
        f"digits: {len(X_train)} training images, f = scaled logistic regression "
        f"(test accuracy {model.score(X_test, y_test):.3f})"
    )
    print(f"K = {K} images per batch, N = {N} workers, {args.n_batches} random batches\n")
    print(
        f"{'S':>3}  {'scheme':7}  {'pixel RMSE':>10}  {'logit RMSE':>10}  {'argmax agreement':>16}"
    )
    for S in args.stragglers:
        for scheme in ("spline", "berrut"):
            Encoder, Decoder = CODERS[scheme]
            pixel_err, logit_err, agree = [], [], []
            for rows in batches:
                coded = Encoder(N).fit_transform(X_test[rows])
                late = rng.choice(N, S, replace=False)
                # round trip: the images themselves, as if f were the identity
                images = coded.copy()
                images[late] = np.nan
                pixel_err.append(
                    np.mean((Decoder(K).fit(images).transform(images) - X_test[rows]) ** 2)
                )
                # coded prediction: every worker runs the model on its coded image
                logits = model.decision_function(coded)
                logits[late] = np.nan
                decoded = Decoder(K).fit(logits).transform(logits)
                truth = model.decision_function(X_test[rows])
                logit_err.append(np.mean((decoded - truth) ** 2))
                agree.append(np.mean(decoded.argmax(1) == truth.argmax(1)))
            print(
                f"{S:>3}  {scheme:7}  {np.sqrt(np.mean(pixel_err)):10.4f}  "
                f"{np.sqrt(np.mean(logit_err)):10.4f}  {np.mean(agree):16.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
