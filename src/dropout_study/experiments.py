"""From the config to the list of conditions of each experiment (one function each)."""

from __future__ import annotations

from collections.abc import Callable

from .spec import Condition

Builder = Callable[[dict], list[Condition]]
EXPERIMENTS: dict[str, Builder] = {}
TUNING_SEED_OFFSET = 1000  # tuning seeds are disjoint from the seeds of reported comparisons


def seeds(cfg: dict, name: str) -> list[int]:
    """The seeds of an experiment: the study's, except for tuning runs (fresh ones)."""
    if name == "noise_tuning":
        n = cfg["experiments"]["noise"]["tune_seeds"]
        return list(range(TUNING_SEED_OFFSET, TUNING_SEED_OFFSET + n))
    return list(range(cfg["seeds"]))


def experiment(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        EXPERIMENTS[name] = fn
        return fn

    return register


def base_condition(cfg: dict, experiment_name: str, **kw) -> Condition:
    t = cfg["training"]
    fields = dict(experiment=experiment_name, noise="dropout", rates=tuple(t["rates"]),
                  hidden=t["hidden"], lr=t["lr"], batch_size=t["batch_size"], epochs=t["epochs"],
                  drop_last=t.get("drop_last", True))
    fields.update(kw)
    fields["rates"] = tuple(float(r) for r in fields["rates"])
    fields["factors"] = tuple(fields.get("factors", {}).items()) \
        if isinstance(fields.get("factors"), dict) else fields.get("factors", ())
    return Condition(**fields)


def rates_name(p1: float, p2: float) -> str:
    return f"p1={p1:g},p2={p2:g}"


@experiment("layer_rates")
def layer_rates(cfg: dict) -> list[Condition]:
    """Exercise 1: every (p1, p2) of the grid, plus the swap pair if the grid lacks it."""
    e = cfg["experiments"]["layer_rates"]
    pairs = [(float(a), float(b)) for a in e["p1"] for b in e["p2"]]
    a, b = (float(x) for x in e["swap"])
    pairs += [p for p in ((a, b), (b, a)) if p not in pairs]
    return [base_condition(cfg, "layer_rates", name=rates_name(p1, p2), rates=(p1, p2),
                           save_weights=True, factors={"p1": p1, "p2": p2})
            for p1, p2 in pairs]


@experiment("long_training")
def long_training(cfg: dict) -> list[Condition]:
    """Exercises 2 and 3: the same model with and without dropout, trained long, probed."""
    e = cfg["experiments"]["long_training"]
    return [base_condition(cfg, "long_training", name=rates_name(*r), rates=tuple(r),
                           epochs=e["epochs"], probe=True,
                           checkpoint_every=e.get("checkpoint_every", 0),
                           factors={"dropout": "on" if any(r) else "off"})
            for r in e["rates"]]


@experiment("weight_decay")
def weight_decay(cfg: dict) -> list[Condition]:
    """Exercise 5: dropout levels x weight decay (on weights only), same seeds in every cell."""
    e = cfg["experiments"]["weight_decay"]
    return [base_condition(cfg, "weight_decay", name=f"{rates_name(*r)},wd={wd:g}",
                           rates=tuple(r), weight_decay=float(wd),
                           factors={"dropout": rates_name(*r), "wd": float(wd)})
            for r in e["rates"] for wd in e["decay"]]


@experiment("weight_dropout")
def weight_dropout(cfg: dict) -> list[Condition]:
    """Exercise 6: activation dropout vs DropConnect (per example, per minibatch), same rate on
    both layers, over a rate sweep."""
    e = cfg["experiments"]["weight_dropout"]
    return [base_condition(cfg, "weight_dropout", name=f"{method},p={p:g}", noise=method,
                           rates=(float(p), float(p)), factors={"method": method, "p": float(p)})
            for method in e["methods"] for p in e["rates"]]


def _noise_condition(cfg: dict, experiment: str, method: str, strength: float, **kw) -> Condition:
    e = cfg["experiments"]["noise"]
    return base_condition(cfg, experiment, noise=method, rates=(strength, strength),
                          epochs=e["epochs"], factors={"method": method, "strength": strength},
                          **kw)


@experiment("noise_tuning")
def noise_tuning(cfg: dict) -> list[Condition]:
    """Exercise 7, stage 1: every scheme over its strength grid, on tuning seeds."""
    e = cfg["experiments"]["noise"]
    return [_noise_condition(cfg, "noise_tuning", m, float(x), name=f"{m},s={x:g}")
            for m, grid in e["methods"].items() for x in grid]


@experiment("noise_final")
def noise_final(cfg: dict) -> list[Condition]:
    """Exercise 7, stage 2: each scheme at its validation-selected strength, fresh seeds.
    The rates given here are provisional: the selection file sets them before training."""
    e = cfg["experiments"]["noise"]
    return [_noise_condition(cfg, "noise_final", m, float(grid[0]), name=m)
            for m, grid in e["methods"].items()]


@experiment("capacity")
def capacity(cfg: dict) -> list[Condition]:
    """Exercise 8: hidden width x (no dropout, dropout)."""
    e = cfg["experiments"]["capacity"]
    return [base_condition(cfg, "capacity", name=f"h={w},{rates_name(*r)}", hidden=int(w),
                           rates=tuple(r), factors={"width": int(w),
                                                    "dropout": "on" if any(r) else "off"})
            for w in e["widths"] for r in e["rates"]]


@experiment("ternary")
def ternary(cfg: dict) -> list[Condition]:
    """Exercise 9: ternary masks over their zero probability a, against Bernoulli dropout with
    the same mask variance (1 - p = 0.9 (1 - a))."""
    e = cfg["experiments"]["ternary"]
    out = []
    for a in e["zero_probability"]:
        p = round(1 - 0.9 * (1 - float(a)), 6)
        out.append(base_condition(cfg, "ternary", name=f"ternary,a={a:g}", noise="ternary",
                                  rates=(float(a), float(a)), probe=True,
                                  factors={"scheme": "ternary", "a": float(a), "p": p}))
        out.append(base_condition(cfg, "ternary", name=f"bernoulli,p={p:g}", noise="dropout",
                                  rates=(p, p), probe=True,
                                  factors={"scheme": "bernoulli", "a": float(a), "p": p}))
    return out


@experiment("sanity")
def sanity(cfg: dict) -> list[Condition]:
    """Exercise 10: our dropout vs torch's, vanilla vs inverted, and a drop-rate sweep."""
    e = cfg["experiments"]["sanity"]
    ref = tuple(float(x) for x in cfg["training"]["rates"])
    out = [base_condition(cfg, "sanity", name=f"{noise},{rates_name(*ref)}", noise=noise,
                          rates=ref, probe=True, factors={"role": role})
           for noise, role in (("dropout", "reference"), ("torch_dropout", "torch"),
                               ("dropout_vanilla", "vanilla"))]
    out += [base_condition(cfg, "sanity", name=f"sweep,p={p:g}", rates=(float(p), float(p)),
                           factors={"role": "sweep", "p": float(p)}) for p in e["sweep"]]
    return out


CONFIG_BLOCK = {"noise_tuning": "noise", "noise_final": "noise"}


def enabled(cfg: dict) -> list[str]:
    return [name for name in EXPERIMENTS
            if cfg["experiments"].get(CONFIG_BLOCK.get(name, name), {}).get("enabled", False)]
