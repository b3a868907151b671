"""The main job's report: the four-panel plot and the printed tables."""

from pathlib import Path

from ._options import ATTACK_LABELS, ATTACKS

#: Marker and line style of each attack, in the order of ``ATTACKS`` (then "plain").
ATTACK_STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", (0, (5, 1))))


def coinciding(rows, keys, tol=0.005):
    """Groups of ``keys`` whose values agree within ``tol`` in every row."""
    groups = []
    for key in keys:
        for group in groups:
            if all(abs(row[key] - row[group[0]]) <= tol for row in rows):
                group.append(key)
                break
        else:
            groups.append([key])
    return [group for group in groups if len(group) > 1]


def plot_report(results, folder):
    """Write ``report.png``: grid search, stragglers, attacks, and the attacks' convergence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))
    for panel, ax in zip((_grid_panel, _straggler_panel, _attack_panel, _curve_panel), axes,
                         strict=True):  # fmt: skip
        panel(ax, results)
    fig.tight_layout()
    path = Path(folder) / "report.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _grid_panel(grid_ax, results):
    """Panel 1: cross-validated accuracy against N, one line per mu."""
    grid = results["grid_search"]["cv"]
    for mu in sorted({row["mu"] for row in grid}):
        cells = [row for row in grid if row["mu"] == mu]
        grid_ax.errorbar(
            [row["n_coded"] for row in cells], [row["cv_accuracy"] for row in cells],
            yerr=[row["cv_std"] for row in cells], marker="o", capsize=3,
            label=f"mu = {mu:g}" + (" (plain training)" if mu == 0 else ""),
        )  # fmt: skip
    grid_ax.set(xlabel="N, coded rows per batch", ylabel="cross-validated accuracy")
    grid_ax.set_title("Coded-smoothing: GridSearchCV over mu and N")
    grid_ax.legend()


def _straggler_panel(straggler_ax, results):
    """Panel 2: agreement with the uncoded network as stragglers grow, on [0, 1]."""
    for scheme, style in (("spline", "-o"), ("berrut", "--s")):
        cells = [row for row in results["stragglers"]["rows"] if row["scheme"] == scheme]
        straggler_ax.plot(
            [100 * row["S_share"] for row in cells], [row["agreement"] for row in cells], style,
            label=f"{'LeTCC (spline)' if scheme == 'spline' else 'BACC (Berrut)'}",
        )  # fmt: skip
    # The whole [0, 1] range: a zoomed axis would make a 1% drop look like a collapse.
    straggler_ax.set_ylim(0, 1.02)
    lowest = min(row["agreement"] for row in results["stragglers"]["rows"])
    straggler_ax.axhline(lowest, color="grey", lw=0.5)
    straggler_ax.annotate(f"lowest {lowest:.3f}", (0, lowest), xytext=(2, -12),
                          textcoords="offset points", fontsize=8, color="grey")  # fmt: skip
    straggler_ax.set(
        xlabel="stragglers, % of the N workers", ylabel="agreement with the uncoded network"
    )
    straggler_ax.set_title(f"Coded prediction, K = {results['K']}, N = {results['N']}")
    straggler_ax.legend(loc="lower left")


def _attack_panel(attack_ax, results):
    """Panel 3: accuracy under each attack against the radius, each line distinguishable."""
    rows = results["attack"]["rows"]
    eps = [row["eps"] for row in rows]
    attacked = rows[1:]
    same = {key: group for group in coinciding(attacked, ATTACKS) for key in group}
    # Distinguishable attacks: each its own marker and dash, and a small horizontal
    # offset, so that lines with equal accuracies are drawn side by side.
    shift = 0.012 * (max(eps) - min(eps) or 1.0)
    for i, name in enumerate(ATTACKS):
        values = [rows[0]["rci_min"]] + [row[name] for row in attacked]
        label = f"RCI, {ATTACK_LABELS[name]}"
        if name in same and same[name][0] != name:
            label += f" (= {same[name][0].replace('_', '-')})"
        offset = (i - (len(ATTACKS) - 1) / 2) * shift
        attack_ax.plot(
            [e + offset for e in eps], values, marker=ATTACK_STYLES[i][0],
            ls=ATTACK_STYLES[i][1], lw=1.2, ms=6, alpha=0.9, fillstyle="none", label=label,
        )  # fmt: skip
    attack_ax.plot(
        eps, [row["rci_min"] for row in rows], "k-", lw=3, alpha=0.5,
        label="RCI robust accuracy: minimum over attacks",
    )  # fmt: skip
    attack_ax.plot(
        eps, [row["rci_min_one_among_clean"] for row in rows], "k:", lw=2,
        label="minimum, one adversarial request among clean ones",
    )  # fmt: skip
    attack_ax.plot(eps, [row["plain"] for row in rows], "r--s", label="plain network, PGD on it")
    attack_ax.set(xlabel="radius eps (L-inf, pixels in [0, 1])", ylabel="test accuracy")
    attack_ax.set_title("Randomized coded inference under adaptive attacks")
    attack_ax.legend(fontsize=7)


def _curve_panel(curve_ax, results):
    """Panel 4: each attack's accuracy against its steps and restarts, at the largest eps."""
    largest = str(max(row["eps"] for row in results["attack"]["rows"]))
    curves = results["attack"]["curves"][largest]
    # One x axis for all attacks: every (steps, restarts) stage any attack ran, in
    # order; each attack is drawn at its own stages (they stop at different counts),
    # shifted a little so that attacks with equal accuracies stay apart.
    ran = {(steps, restarts) for curve in curves.values() for steps, restarts, _ in curve}
    stages = sorted(ran, key=lambda stage: (stage[1], stage[0]))
    position = {stage: i for i, stage in enumerate(stages)}
    for i, (name, curve) in enumerate(curves.items()):
        offset = 0.04 * (i - (len(curves) - 1) / 2)  # coinciding curves side by side
        curve_ax.plot(
            [position[(s, r)] + offset for s, r, _ in curve], [a for _, _, a in curve],
            marker=ATTACK_STYLES[i % len(ATTACK_STYLES)][0],
            ls=ATTACK_STYLES[i % len(ATTACK_STYLES)][1], fillstyle="none", label=name,
        )  # fmt: skip
    curve_ax.set_xticks(
        range(len(stages)), [f"{s}" + ("" if r == 1 else f"x{r}") for s, r in stages]
    )
    curve_ax.set(xlabel="PGD steps (x restarts)", ylabel="accuracy")
    curve_ax.set_title(f"Convergence of the attacks at eps = {largest}")
    curve_ax.legend(fontsize=7)


def print_table(results):
    print(f"\n{results['data']}: {results['n_train']} training and {results['n_test']} test images")
    best = results["grid_search"]["best"]
    print(f"best by {results['cv']}-fold CV: mu = {best['mu']:g}, N = {best['n_coded']}")
    print(f"  {'mu':>4} {'N':>4}  CV accuracy")
    for row in results["grid_search"]["cv"]:
        accuracy = f"{row['cv_accuracy']:.3f} +- {row['cv_std']:.3f}"
        print(f"  {row['mu']:>4g} {row['n_coded']:>4}  {accuracy}")
    print(
        f"\nprediction, uncoded network test accuracy {results['stragglers']['plain_accuracy']:.3f}"
    )
    print(f"  {'S':>3}  {'scheme':7} {'accuracy':>8} {'agreement':>9} {'logit RMSE':>10}")
    for row in results["stragglers"]["rows"]:
        print(
            f"  {row['S']:>3}  {row['scheme']:7} {row['accuracy']:8.3f} {row['agreement']:9.3f} "
            f"{row['logit_rmse']:10.4f}"
        )
    rows = results["attack"]["rows"]
    print(f"\nadaptive attacks on RCI ({results['attack']['n_attacked']} images), accuracy")
    header = "".join(f"{name:>10}" for name in ATTACKS)
    print(f"  {'eps':>5} {'plain':>6}{header} {'RCI min':>8} {'1 among clean':>13}")
    for row in rows:
        cells = "".join(f"{row.get(name, row['rci_min']):10.3f}" for name in ATTACKS)
        print(
            f"  {row['eps']:5.2f} {row['plain']:6.3f}{cells} {row['rci_min']:8.3f} "
            f"{row['rci_min_one_among_clean']:13.3f}"
        )
