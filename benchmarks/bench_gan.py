"""Does coded-smoothing improve a WGAN-GP? FID and IS from a classifier trained here.

The coded-smoothing papers report better Inception Score and FID for a WGAN. This
benchmark trains a WGAN-GP (small DCGAN-style generator and critic,
``benchmarks/_gan.py``) on the digits (8x8, the CPU-sized data set) and on
Fashion-MNIST (28x28) with coded-smoothing on the critic (consistency loss beside
the gradient penalty), on the generator (the generator loss with its output
decoded) and on both, each against the plain WGAN-GP at the same generator steps
and seeds.

Evaluation (offline; no pretrained Inception weights here): a small CNN classifier
trained on the real training split; FID of its penultimate features and IS of its
logits, 1000 samples from a fixed noise batch. The metric is checked on itself
first: FID(real test, real train) and FID(uniform noise, real train), and the
baseline's FID curve must fall as it trains.

Protocol:

1. Tuning (seeds 100, 101; ``--tune-steps`` generator steps): mu and N/K of each
   coded variant on a grid, scored by FID against the *training* features (mean
   of the last two checkpoints); the best of each is kept, and "both" combines the
   two winners (``gan[_fashion]_tuning.json``, written as soon as it is done).
2. Final (seeds 0, 1, ...; ``--steps``): baseline and the three variants, FID against
   the *test* features over the steps; the paired difference to the baseline at
   the last step, and the per-seed FID ratio, each with a 95% t-interval over seeds.
   Wall-clock per generator step (n_critic = 5 critic steps included; one torch
   thread; evaluation not timed).
3. Cost (``--cost-only --settings gan.json``): the variants run one after the
   other change with the machine's load, so the cost ratios are measured apart,
   ``--cost-steps`` steps per variant, ``--cost-repeats`` interleaved repeats,
   median (``gan[_fashion]_cost.json``).

Run ``python benchmarks/bench_gan.py --seeds 5`` (digits; about 35 minutes on 2
busy cores) or ``--quick`` (a smoke run of a minute). Writes
``benchmarks/results/gan.json`` and ``gan.png`` (``gan_quick.*`` with ``--quick``).
Fashion-MNIST (the first 10000 training images, 70/30 split) with the settings
chosen on the digits and fewer steps: ``--data fashion --steps 500 --seeds 3
--settings benchmarks/results/gan_tuning.json`` (``gan_fashion.*``, about 45 minutes).
"""

import argparse
import json
import platform
import time
from pathlib import Path

import _gan  # benchmarks/_gan.py: the script's folder is first on sys.path
import numpy as np
import torch
from scipy import stats

RESULTS = Path(__file__).resolve().parent / "results"
GRID = {
    "critic": [dict(mu_critic=mu, ratio=r) for mu in (0.3, 1.0) for r in (0.5, 2.0)],
    "generator": [dict(mu_gen=mu, ratio=r) for mu in (0.3, 0.6) for r in (0.5, 2.0)],
}


def interval(values):
    """Mean and 95% t-interval of a sample."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, float(mean - half), float(mean + half)


def run(X_train, evaluator, reference, *, steps, seed, eval_every, settings):
    def evaluate(generator):
        return evaluator.score(_gan.sample(generator, 1000), reference)

    generator, curve, per_step = _gan.train_wgan(
        X_train, steps=steps, seed=seed, evaluate=evaluate, eval_every=eval_every, **settings
    )
    return generator, {"settings": settings, "seed": seed, "curve": curve, "s_per_step": per_step}


def tune(X_train, evaluator, *, steps, seeds, eval_every, log):
    rows, chosen = [], {}
    for variant, grid in {"baseline": [{}], **GRID}.items():
        best = None
        for settings in grid:
            fids = []
            for seed in seeds:
                _, record = run(
                    X_train, evaluator, "train",
                    steps=steps, seed=seed, eval_every=eval_every, settings=settings,
                )  # fmt: skip
                fids.append(np.mean([point["fid"] for point in record["curve"][-2:]]))
            score = float(np.mean(fids))
            rows.append({"variant": variant, "settings": settings, "fid_train": score})
            log(f"tune {variant} {settings}: FID(train) {score:.2f}")
            if best is None or score < best[0]:
                best = (score, settings)
        chosen[variant] = best[1]
    chosen["both"] = {**chosen["critic"], **chosen["generator"]}
    chosen["both"]["ratio"] = chosen["critic"]["ratio"]  # one N/K for both; the critic's
    return rows, chosen


def cost(X_train, chosen, *, steps, repeats):
    """Seconds per generator step of each variant, interleaved repeats (median)."""
    times = {variant: [] for variant in chosen}
    for repeat in range(repeats):
        for variant, settings in chosen.items():
            _, _, per_step = _gan.train_wgan(X_train, steps=steps, seed=repeat, **settings)
            times[variant].append(per_step)
    medians = {variant: float(np.median(t)) for variant, t in times.items()}
    return {
        "chosen": chosen,
        "steps": steps,
        "repeats": repeats,
        "s_per_step": times,
        "ratio_to_baseline": {v: m / medians["baseline"] for v, m in medians.items()},
    }


def plot(results, grids, side, path):
    import matplotlib.pyplot as plt

    variants = list(results["final"])
    fig, axes = plt.subplots(2, 4, figsize=(15, 7))
    for ax, key in zip(axes[0, :2], ("fid", "is"), strict=True):
        for variant in variants:
            runs = results["final"][variant]["runs"]
            steps = [point["step"] for point in runs[0]["curve"]]
            values = np.array([[point[key] for point in r["curve"]] for r in runs])
            ax.plot(steps, values.mean(0), label=variant)
            ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2)
        ax.set_xlabel("generator step")
        ax.set_ylabel(f"{key.upper()} (test features; mean, min-max over seeds)")
        if key == "fid":
            ax.set_yscale("log")
        ax.legend()
    ax = axes[0, 2]
    costs = [results["final"][v]["s_per_step_median"] * 1e3 for v in variants]
    ax.bar(variants, costs)
    ax.set_ylabel("ms per generator step (5 critic steps)")
    ax.set_title("inside the runs (load-dependent;\nratios: *_cost.json)", fontsize=9)
    axes[0, 3].axis("off")
    for ax, variant in zip(axes[1], variants, strict=True):
        grid = grids[variant].reshape(8, 8, side, side).permute(0, 2, 1, 3)
        ax.imshow(grid.reshape(8 * side, 8 * side).numpy(), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(f"{variant} (seed 0)")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of about a minute")
    parser.add_argument("--data", default="digits", choices=["digits", "fashion"])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--tune-steps", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cost-steps", type=int, default=100)
    parser.add_argument("--cost-repeats", type=int, default=5)
    parser.add_argument(
        "--settings",
        type=Path,
        help="skip tuning; use the settings chosen in this results JSON (e.g. gan.json)",
    )
    parser.add_argument(
        "--cost-only",
        action="store_true",
        help="only time the variants of --settings (interleaved; gan[_fashion]_cost.json)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cost_only:
        X_train = _gan.load(args.data, n_train=10000)[0]
        chosen = json.loads(args.settings.read_text())["chosen"]
        result = cost(X_train, chosen, steps=args.cost_steps, repeats=args.cost_repeats)
        stem = "gan" if args.data == "digits" else f"gan_{args.data}"
        (RESULTS / f"{stem}_cost.json").write_text(json.dumps(result, indent=1))
        print(result["ratio_to_baseline"])
        return
    if args.quick:
        args.steps, args.tune_steps, args.seeds = 100, 50, 2
        GRID["critic"], GRID["generator"] = GRID["critic"][:1], GRID["generator"][:1]
    eval_every = max(args.steps // 10, 1)
    stem = "gan_quick" if args.quick else ("gan" if args.data == "digits" else f"gan_{args.data}")
    RESULTS.mkdir(exist_ok=True)
    start = time.perf_counter()

    def log(message):
        print(f"[{time.perf_counter() - start:6.0f} s] {message}", flush=True)

    X_train, X_test, y_train, y_test, side = _gan.load(args.data, n_train=10000)
    evaluator = _gan.Evaluator(X_train, y_train)
    evaluator.set_reference("train", X_train)
    evaluator.set_reference("test", X_test)
    noise = torch.rand_like(X_test) * 2 - 1
    self_check = {
        "classifier_test_accuracy": evaluator.accuracy(X_test, y_test),
        "real_test_vs_train": evaluator.score(X_test, "train"),
        "noise_vs_train": evaluator.score(noise, "train"),
    }
    log(f"self-check {self_check}")
    if args.settings is None:
        tuning, chosen = tune(
            X_train, evaluator, steps=args.tune_steps, seeds=(100, 101),
            eval_every=max(args.tune_steps // 4, 1), log=log,
        )  # fmt: skip
        (RESULTS / f"{stem}_tuning.json").write_text(
            json.dumps(
                {"tune_steps": args.tune_steps, "tuning": tuning, "chosen": chosen}, indent=1
            )
        )
    else:
        tuning, chosen = str(args.settings), json.loads(args.settings.read_text())["chosen"]
    log(f"chosen {chosen}")
    final, grids = {}, {}
    for variant in ("baseline", "critic", "generator", "both"):
        runs = []
        for seed in range(args.seeds):
            generator, record = run(
                X_train, evaluator, "test",
                steps=args.steps, seed=seed, eval_every=eval_every, settings=chosen[variant],
            )  # fmt: skip
            runs.append(record)
            if seed == 0:
                grids[variant] = _gan.sample(generator, 64)
            log(f"{variant} seed {seed}: FID {record['curve'][-1]['fid']:.2f}")
        final[variant] = {
            "settings": chosen[variant],
            "runs": runs,
            "fid_last": [r["curve"][-1]["fid"] for r in runs],
            "is_last": [r["curve"][-1]["is"] for r in runs],
            "s_per_step_median": float(np.median([r["s_per_step"] for r in runs])),
        }
    base = final["baseline"]
    for entry in final.values():
        diff = np.subtract(entry["fid_last"], base["fid_last"])
        entry["fid_last_mean"] = float(np.mean(entry["fid_last"]))
        entry["is_last_mean"] = float(np.mean(entry["is_last"]))
        entry["fid_diff_ci95"] = interval(diff)
        entry["fid_ratio_per_seed"] = list(np.divide(entry["fid_last"], base["fid_last"]))
        entry["fid_ratio_ci95"] = interval(entry["fid_ratio_per_seed"])
        entry["cost_ratio"] = entry["s_per_step_median"] / base["s_per_step_median"]
        entry["target_met"] = bool(
            entry["fid_ratio_ci95"][0] <= 0.9 and entry["fid_diff_ci95"][2] < 0
        )
    curves = [[p["fid"] for p in r["curve"]] for r in base["runs"]]
    self_check["baseline_fid_first_checkpoint"] = float(np.mean([c[0] for c in curves]))
    self_check["baseline_fid_last_checkpoint"] = float(np.mean([c[-1] for c in curves]))
    results = {
        "data": args.data,
        "steps": args.steps,
        "tune_steps": args.tune_steps,
        "seeds": args.seeds,
        "eval_every": eval_every,
        "self_check": self_check,
        "tuning": tuning,
        "chosen": chosen,
        "final": final,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "wall_seconds": time.perf_counter() - start,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1))
    plot(results, grids, side, RESULTS / f"{stem}.png")
    for variant, entry in final.items():
        print(
            f"{variant:9s} FID {entry['fid_last_mean']:6.2f}  IS {entry['is_last_mean']:.2f}  "
            f"ratio {entry['fid_ratio_ci95'][0]:.3f} [{entry['fid_ratio_ci95'][1]:.3f}, "
            f"{entry['fid_ratio_ci95'][2]:.3f}]  diff {entry['fid_diff_ci95'][0]:+.2f} "
            f"[{entry['fid_diff_ci95'][1]:+.2f}, {entry['fid_diff_ci95'][2]:+.2f}]  "
            f"cost x{entry['cost_ratio']:.2f}"
        )
    print(f"wrote {RESULTS / stem}.json and .png in {results['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
