"""From the config to the list of conditions of each experiment (one function each)."""

from __future__ import annotations

from collections.abc import Callable

from .spec import Condition

Builder = Callable[[dict], list[Condition]]
EXPERIMENTS: dict[str, Builder] = {}


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


def enabled(cfg: dict) -> list[str]:
    return [name for name in EXPERIMENTS
            if cfg["experiments"].get(name, {}).get("enabled", False)]
