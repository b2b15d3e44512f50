"""What a run is: one ``Condition`` x one seed; what a job is: a block of them trained together.

A ``Condition`` is the whole description of a model's training (CleanRL's one-dataclass rule);
the seed adds the random streams. Conditions that differ only in per-model hyper-parameters
(rates, weight decay, lr) can share a job; those that differ in shape or scheme cannot.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

N_IN, N_OUT = 784, 10  # Fashion-MNIST: 28 x 28 pixels in, ten classes out

# What a job computes that its fields do not say, by noise scheme: exact DropConnect's
# per-example masks take 8 random bits an entry, so its keep rate is rounded to 1/256 (they took
# 16 until that made them cheaper, ``noise.DropConnect``). Written into each such condition of a
# job's JSON, the job's identity, so that no job trained with the earlier masks is reused as
# one of these; the JSON of every other scheme is what it always was.
MASK_BITS = {"dropconnect": 8}


@dataclass(frozen=True)
class Condition:
    experiment: str
    name: str
    noise: str = "dropout"
    rates: tuple[float, float] = (0.2, 0.5)
    weight_decay: float = 0.0
    hidden: int = 256
    lr: float = 0.5
    batch_size: int = 256
    epochs: int = 10
    drop_last: bool = True  # skip each epoch's partial last minibatch (see config.yaml)
    probe: bool = False  # log activation statistics on the probe batch
    save_weights: bool = False  # keep final weights (for evaluation-only jobs)
    checkpoint_every: int = 0  # epochs between resumable checkpoints (0: never)
    noise_stream: str = "noise"  # the name of the masks' random stream (A/A calibration)
    factors: tuple[tuple[str, object], ...] = ()  # the experiment's own labels, for the report

    def batch_key(self) -> tuple:
        """Conditions with equal keys can be trained as one batched model."""
        return (self.noise, self.hidden, self.batch_size, self.epochs, self.drop_last, self.probe,
                self.save_weights, self.checkpoint_every)

    @classmethod
    def from_dict(cls, d: dict) -> Condition:
        d = dict(d)
        bits = d.pop("mask_bits", None)
        if bits is not None and bits != MASK_BITS.get(d.get("noise", "dropout")):
            raise ValueError(f"a {d.get('noise')} condition trained with {bits}-bit masks; "
                             f"this code draws {MASK_BITS.get(d.get('noise'))}")
        d["rates"] = tuple(d["rates"])
        d["factors"] = tuple((k, v) for k, v in d.get("factors", ()))
        return cls(**d)


@dataclass
class JobSpec:
    experiment: str
    job: str
    conditions: list[Condition]
    seeds: list[int]
    data_path: str = "results/data/fashion-mnist.pt"
    device: str = "auto"
    deterministic: bool = False
    divergence_loss: float = 100.0
    eval_chunk: int = 2500
    probe_steps: list[int] = field(default_factory=lambda: [0, 1, 3, 10, 30, 100])
    # exercise 7: a JSON file {condition name: [rate1, rate2]} chosen on validation by an
    # earlier stage; the conditions named in it take those rates before training
    rates_from: str | None = None
    # the random streams (rng.RNG_KINDS): auto is the counter streams on CUDA, the per-model
    # generators on CPU. Left out of the JSON (the job's identity) when auto, so that adding
    # the key renamed no job: CPU numbers under auto are what they were before it existed
    rng: str = "auto"

    @property
    def models(self) -> list[tuple[Condition, int]]:
        """The (condition, seed) pairs, in the order of the batch's model axis."""
        return [(c, s) for c in self.conditions for s in self.seeds]

    def to_json(self) -> str:
        d = asdict(self)
        if d["rng"] == "auto":
            del d["rng"]
        for c in d["conditions"]:
            if c["noise"] in MASK_BITS:
                c["mask_bits"] = MASK_BITS[c["noise"]]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        d = json.loads(text)
        d["conditions"] = [Condition.from_dict(c) for c in d["conditions"]]
        return cls(**d)

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
