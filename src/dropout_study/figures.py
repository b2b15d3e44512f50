"""One figure function per exercise: results in, PNG files out (thin wrappers over analysis)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from .analysis import Results, closed_form, curves  # noqa: E402

sns.set_theme(context="notebook", style="whitegrid")
DPI = 110


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def band(ax, x, mean, lo, hi, label, color=None):
    line = ax.plot(x, mean, label=label, color=color)[0]
    ax.fill_between(x, lo, hi, alpha=0.25, color=line.get_color(), linewidth=0)


def exercise_1(res: Results, out: Path) -> dict[str, Path]:
    ends = res.ends("layer_rates")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, col, title, fmt in ((axes[0], "endpoint", "test accuracy (%)", ".1f"),
                                (axes[1], "gap", "train - test accuracy (pp)", ".1f")):
        grid = ends.pivot_table(index="factor_p1", columns="factor_p2", values=col,
                                aggfunc="mean") * 100
        sns.heatmap(grid, annot=True, fmt=fmt, cmap="viridis" if col == "endpoint" else "magma_r",
                    ax=ax, cbar_kws={"label": title})
        ax.set_xlabel("p2 (dropout after hidden layer 2)")
        ax.set_ylabel("p1 (dropout after hidden layer 1)")
        ax.set_title(f"{title}, mean of {ends['seed'].nunique()} seeds")
    return {"heatmaps": _save(fig, out / "ex1_heatmaps.png")}


def exercise_2(res: Results, out: Path) -> dict[str, Path]:
    cols = ["train_loss", "test_loss", "train_eval_acc", "test_acc"]
    c = curves(res.metrics, "long_training", cols, res.level)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    styles = {"train_loss": "-", "test_loss": "--", "train_eval_acc": "-", "test_acc": "--"}
    palette = dict(zip(sorted(c["condition"].unique()), sns.color_palette("deep"), strict=False))
    for ax, metrics, ylabel in ((axes[0], ["train_loss", "test_loss"], "cross-entropy"),
                                (axes[1], ["train_eval_acc", "test_acc"], "accuracy")):
        for (cond, metric), g in c[c["metric"].isin(metrics)].groupby(["condition", "metric"]):
            g = g.sort_values("epoch")
            line = ax.plot(g["epoch"], g["mean"], styles[metric], color=palette[cond],
                           label=f"{cond}: {metric.replace('_eval', '')}")[0]
            ax.fill_between(g["epoch"], g["lo"], g["hi"], alpha=0.25,
                            color=line.get_color(), linewidth=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    axes[0].set_title("loss (train: train mode; test: eval mode)")
    axes[1].set_title("accuracy (both in eval mode)")
    return {"curves": _save(fig, out / "ex2_curves.png")}


def exercise_3(res: Results, out: Path) -> dict[str, Path]:
    a = res.activations[res.activations["experiment"] == "long_training"].copy()
    a["predicted"] = closed_form(a["var_pre"], a["mean_pre"], a["rate"])
    a["ratio"] = a["var_post"] / a["predicted"]
    layers = sorted(a["layer"].unique())
    fig, axes = plt.subplots(1, len(layers) + 1, figsize=(5.4 * (len(layers) + 1), 4.4),
                             layout="constrained")
    from . import stats

    def agg(g, col, log=False):
        """Per epoch, mean and interval over seeds; on the log scale for a variance (a
        geometric mean, whose interval stays positive)."""
        f = np.log if log else (lambda v: v)
        inv = np.exp if log else (lambda v: v)
        ests = [stats.mean_ci(f(x[col].dropna()), res.level) for _, x in g.groupby("epoch")]
        return (np.array(sorted(g["epoch"].unique())),
                *(inv(np.array([getattr(e, k) for e in ests])) for k in ("mean", "lo", "hi")))

    palette = sns.color_palette("deep")
    for ax, layer in zip(axes, layers, strict=False):
        g = a[a["layer"] == layer]
        i, means = 0, []
        for cond in sorted(g["condition"].unique()):
            gc = g[g["condition"] == cond]
            rate = gc["rate"].iloc[0]
            series = [("var_eval", "eval mode")] if rate == 0 else \
                [("var_pre", "train, before mask"), ("var_post", "train, after mask"),
                 ("var_eval", "eval mode")]
            for col, what in series:
                x, m, lo, hi = agg(gc, col, log=True)
                band(ax, np.maximum(x, 1e-3), m, lo, hi, f"{cond}: {what}", palette[i])
                means.append(m[np.isfinite(m)])
                i += 1
        ax.set_xscale("log")
        ax.set_yscale("log")
        span = np.concatenate(means)  # the means set the range; a two-seed band may leave it
        ax.set_ylim(span.min() / 3, span.max() * 3)
        ax.set_xlabel("epoch (log scale; first points are early steps)")
        ax.set_ylabel("variance over probe examples x units (geometric mean)")
        ax.set_title(f"hidden layer {layer}")
        ax.legend(fontsize=7)
    ax = axes[-1]
    d = a[a["rate"] > 0]
    for layer in layers:
        x, m, lo, hi = agg(d[d["layer"] == layer], "ratio")
        band(ax, np.maximum(x, 1e-3), m, lo, hi, f"layer {layer}", palette[layer - 1])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("epoch (log scale)")
    ax.set_ylabel("measured / closed-form variance")
    ax.set_title("closed-form check (dropout model)")
    ax.legend(fontsize=8)
    return {"variance": _save(fig, out / "ex3_variance.png")}


def exercise_4(res: Results, out: Path) -> dict[str, Path]:
    from . import stats

    mc, models = res.extra["test_time"], res.extra["test_time_models"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, col, label in ((axes[0], "acc", "accuracy"), (axes[1], "nll", "NLL (nats)"),
                           (axes[2], "ece", "ECE (15 bins)")):
        ts = sorted(mc["passes"].unique())
        ests = [stats.mean_ci(mc.loc[mc["passes"] == t, col], res.level) for t in ts]
        band(ax, ts, [e.mean for e in ests], [e.lo for e in ests], [e.hi for e in ests],
             "Monte-Carlo average of T passes")
        ev = stats.mean_ci(models[f"eval_{col}"], res.level)
        ax.axhline(ev.mean, color="black", lw=1, label="eval mode")
        if np.isfinite(ev.lo):
            ax.axhspan(ev.lo, ev.hi, color="black", alpha=0.1, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("passes T")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("Dropout left on at test time, averaged over T passes")
    return {"passes": _save(fig, out / "ex4_passes.png")}


def _lines_with_bands(ax, ends, x, hue, y, level, xlabel, ylabel, scale=1.0, labels=None):
    from . import stats

    for i, (key, g) in enumerate(ends.groupby(hue)):
        xs = sorted(g[x].unique())
        ests = [stats.mean_ci(g.loc[g[x] == v, y], level) for v in xs]
        band(ax, xs, [scale * e.mean for e in ests], [scale * e.lo for e in ests],
             [scale * e.hi for e in ests], (labels or {}).get(key, key),
             sns.color_palette("deep")[i % 10])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)


def exercise_5(res: Results, out: Path) -> dict[str, Path]:
    ends = res.ends("weight_decay").copy()
    positive = ends.loc[ends["factor_wd"] > 0, "factor_wd"]
    floor = positive.min() / 10 if len(positive) else 1e-6
    ends["wd_plot"] = ends["factor_wd"].where(ends["factor_wd"] > 0, floor)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    _lines_with_bands(axes[0], ends, "wd_plot", "factor_dropout", "endpoint", res.level,
                      "weight decay λ (leftmost point: λ = 0)", "test accuracy (%)", 100)
    _lines_with_bands(axes[1], ends, "wd_plot", "factor_dropout", "weight_norm1", res.level,
                      "weight decay λ (leftmost point: λ = 0)",
                      "‖W1‖ (Frobenius) at the end of training")
    for ax in axes:
        ax.set_xscale("log")
    return {"grid": _save(fig, out / "ex5_decay.png")}


def exercise_6(res: Results, out: Path) -> dict[str, Path]:
    from .analysis import METHOD_NAMES

    ends = res.ends("weight_dropout")
    fig, ax = plt.subplots(1, 1, figsize=(7, 4.2))
    _lines_with_bands(ax, ends, "factor_p", "factor_method", "endpoint", res.level,
                      "drop probability p (both layers)", "test accuracy (%)", 100, METHOD_NAMES)
    return {"sweep": _save(fig, out / "ex6_sweep.png")}


def exercise_7(res: Results, out: Path) -> dict[str, Path]:
    tune, final = res.ends("noise_tuning"), res.ends("noise_final")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    _lines_with_bands(axes[0], tune, "factor_strength", "factor_method", "val_endpoint",
                      res.level, "noise strength (each scheme's own scale)",
                      "validation accuracy (%)", 100)
    axes[0].set_title(f"tuning ({tune['seed'].nunique()} tuning seeds)")
    from . import stats

    order = sorted(final["condition"].unique(), key=lambda c: (c != "dropout", c))
    ests = [stats.mean_ci(final.loc[final["condition"] == c, "endpoint"] * 100, res.level)
            for c in order]
    axes[1].errorbar(range(len(order)), [e.mean for e in ests],
                     yerr=[[e.mean - e.lo for e in ests], [e.hi - e.mean for e in ests]],
                     fmt="o", capsize=4, color="C0", zorder=3)
    sns.stripplot(data=final.assign(acc=final["endpoint"] * 100), x="condition", y="acc",
                  order=order, ax=axes[1], color="grey", alpha=0.5, size=4)
    axes[1].set_xlabel("")
    axes[1].set_ylabel("test accuracy (%)")
    axes[1].set_title(f"selected strengths, fresh seeds (n = {final['seed'].nunique()})")
    axes[1].tick_params(axis="x", rotation=20)
    return {"noise": _save(fig, out / "ex7_noise.png")}


def exercise_8(res: Results, out: Path) -> dict[str, Path]:
    ends = res.ends("capacity")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    _lines_with_bands(axes[0], ends, "factor_width", "factor_dropout", "endpoint", res.level,
                      "hidden width", "test accuracy (%)", 100)
    _lines_with_bands(axes[1], ends, "factor_width", "factor_dropout", "gap", res.level,
                      "hidden width", "train − test accuracy (pp)", 100)
    for ax in axes:
        ax.set_xscale("log", base=2)
    return {"capacity": _save(fig, out / "ex8_capacity.png")}


def exercise_9(res: Results, out: Path) -> dict[str, Path]:
    ends = res.ends("ternary")
    fig, ax = plt.subplots(1, 1, figsize=(7, 4.2))
    _lines_with_bands(ax, ends, "factor_a", "factor_scheme", "endpoint", res.level,
                      "ternary zero probability a (Bernoulli at p = 0.1 + 0.9a, same variance)",
                      "test accuracy (%)", 100)
    return {"ternary": _save(fig, out / "ex9_ternary.png")}


def exercise_10(res: Results, out: Path) -> dict[str, Path]:
    m = res.metrics[(res.metrics["experiment"] == "sanity")
                    & res.metrics["condition"].str.startswith("sweep")]
    c = curves(m, "sanity", ["train_loss", "test_loss"], res.level)
    fig, ax = plt.subplots(1, 1, figsize=(8, 4.4))
    palette = sns.color_palette("deep")
    for i, cond in enumerate(sorted(c["condition"].unique())):
        for metric, style in (("train_loss", "-"), ("test_loss", "--")):
            g = c[(c["condition"] == cond) & (c["metric"] == metric)].sort_values("epoch")
            ax.plot(g["epoch"], g["mean"], style, color=palette[i], label=f"{cond}: {metric}")
            ax.fill_between(g["epoch"], g["lo"], g["hi"], color=palette[i], alpha=0.2, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize=8)
    ax.set_title("drop-rate sweep (same p on both layers)")
    return {"sweep": _save(fig, out / "ex10_sweep.png")}
