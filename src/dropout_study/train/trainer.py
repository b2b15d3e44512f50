"""The trainer: a block of models as one batched model on the device, epoch by epoch, with its
evaluation, activation probes, checkpoints and the rows of its tables."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data import FashionMNIST
from ..io import atomic_write
from ..model import FORMAT as MODEL_FORMAT
from ..model import BatchedMLP, Taps
from ..noise import NoiseContext, scheme
from ..rng import ModelStreams, make_streams
from ..spec import JobSpec
from .tables import write_job

log = logging.getLogger(__name__)


# "<k>": a pack of more than k models raises torch.cuda.OutOfMemoryError in its last epoch,
# as a GPU too small for it would: the halving (train_pack) tested on any device
FAKE_OOM = "DROPOUT_STUDY_FAKE_OOM"


@dataclass
class Split:
    x: torch.Tensor  # [N, 784] float32 in [0, 1], on the device
    y: torch.Tensor  # [N] int64


@dataclass
class DeviceData:
    train: Split
    train_eval: Split  # a fixed slice of the training split, scored in eval mode (the gap)
    val: Split
    test: Split
    probe: torch.Tensor

    @classmethod
    def from_dataset(cls, ds: FashionMNIST, device: torch.device) -> DeviceData:
        def split(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor | None = None) -> Split:
            if idx is not None:
                x, y = x[idx], y[idx]
            return Split(x.to(device=device, dtype=torch.float32).div_(255.0), y.to(device))

        n_eval = min(len(ds.train_index), len(ds.val_index))
        return cls(split(ds.train_images, ds.train_labels, ds.train_index),
                   split(ds.train_images, ds.train_labels, ds.train_index[:n_eval]),
                   split(ds.train_images, ds.train_labels, ds.val_index),
                   split(ds.test_images, ds.test_labels),
                   split(ds.train_images, ds.train_labels, ds.probe_index).x)


@torch.no_grad()
def evaluate(model: BatchedMLP, split: Split,
             chunk: int = 2500) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode mean cross-entropy and accuracy of every model, [M] each (on the device)."""
    loss = torch.zeros(model.n_models, device=split.x.device)
    correct = torch.zeros(model.n_models, device=split.x.device)
    for start in range(0, len(split.y), chunk):
        x, y = split.x[start:start + chunk], split.y[start:start + chunk]
        logits = model(x, train=False)
        yy = y.expand(model.n_models, -1)
        loss += F.cross_entropy(logits.transpose(1, 2), yy, reduction="none").sum(1)
        correct += (logits.argmax(-1) == yy).sum(1)
    return loss / len(split.y), correct / len(split.y)


@torch.no_grad()
def activation_stats(model: BatchedMLP, probe: torch.Tensor, streams: ModelStreams) -> dict:
    """Per model and hidden layer, over all (example, unit) pairs of the probe batch:
    mean and population variance of the activations before the noise and after it (train
    mode), and in eval mode. Returns tensors [M, n_layers]."""
    train_taps, eval_taps = Taps(), Taps()
    x = probe.expand(model.n_models, -1, -1)
    model(x, train=True, ctx=NoiseContext(streams), taps=train_taps)
    model(x, train=False, taps=eval_taps)

    def moments(ts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        flat = [t.flatten(1) for t in ts]
        return (torch.stack([f.mean(1) for f in flat], 1),
                torch.stack([f.var(1, unbiased=False) for f in flat], 1))

    mean_pre, var_pre = moments(train_taps.pre)
    mean_post, var_post = moments(train_taps.post)
    mean_eval, var_eval = moments(eval_taps.post)
    return {"mean_pre": mean_pre, "var_pre": var_pre, "mean_post": mean_post,
            "var_post": var_post, "mean_eval": mean_eval, "var_eval": var_eval}


@dataclass
class TrainState:
    epoch: int = 0
    alive: torch.Tensor | None = None
    diverged_epoch: list[int | None] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    act_rows: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0


class Trainer:
    """Trains a job's models, or the part ``part`` of them (indices into ``spec.models``, a
    contiguous range: a pack halved after running out of memory)."""

    def __init__(self, spec: JobSpec, data: DeviceData, device: torch.device,
                 part: range | None = None):
        self.spec, self.data, self.device = spec, data, device
        keys = {c.batch_key() for c in spec.conditions}
        if len(keys) != 1:
            raise ValueError(f"job {spec.job}: conditions of different shapes cannot be batched")
        self.cond0 = spec.conditions[0]
        self.part = range(len(spec.models)) if part is None else part
        if len(self.part) == 0 or self.part.step != 1 or not (
                0 <= self.part.start and self.part.stop <= len(spec.models)):
            raise ValueError(f"job {spec.job}: {self.part} is not a part of its "
                             f"{len(spec.models)} models")
        self.models = models = [spec.models[i] for i in self.part]
        self.seeds = [s for _, s in models]
        col = lambda f: torch.tensor([f(c) for c, _ in models],  # noqa: E731
                                     dtype=torch.float32, device=device)
        self.lr = col(lambda c: c.lr).view(-1, 1, 1)
        self.wd = col(lambda c: c.weight_decay).view(-1, 1, 1)
        self.neg_lr = -self.lr
        self.shrink = 1.0 - self.lr * self.wd
        self.any_decay = bool((self.wd != 0).any())
        self.fused = True  # the hand-written step where the noise allows it; False: autograd
        rates = torch.tensor([list(c.rates) for c, _ in models], dtype=torch.float32)
        self.noise = scheme(self.cond0.noise)
        self.model = BatchedMLP(self.seeds, self.cond0.hidden, self.noise, rates, device)
        self.order = [torch.Generator().manual_seed(0) for _ in self.seeds]
        from ..rng import stream_seed

        for g, s in zip(self.order, self.seeds, strict=True):
            g.manual_seed(stream_seed(s, "order"))  # the minibatch order: CPU, device-independent
        self.noise_streams = make_streams(self.seeds, [c.noise_stream for c, _ in models],
                                          device, spec.rng)
        self.probe_streams = make_streams(self.seeds, "probe", device, spec.rng)
        self.state = TrainState(alive=torch.ones(len(models), dtype=torch.bool, device=device),
                                diverged_epoch=[None] * len(models))

    @property
    def whole(self) -> bool:
        return len(self.part) == len(self.spec.models)

    # -- checkpoints -------------------------------------------------------------------------
    def digest(self) -> str:
        """What a checkpoint belongs to: the spec, and the part of its models."""
        d = self.spec.digest()
        return d if self.whole else f"{d}:m{self.part.start}-{self.part.stop - 1}"

    def checkpoint_path(self, out_dir: Path) -> Path:
        return out_dir / ("checkpoint.pt" if self.whole else
                          f"checkpoint.m{self.part.start:04d}-{self.part.stop - 1:04d}.pt")

    def checkpoint(self, path: Path) -> None:
        blob = {"digest": self.digest(), "format": MODEL_FORMAT,
                "model": self.model.state_dict(),
                "order": [g.get_state() for g in self.order],
                "noise": [s.cpu() for s in self.noise_streams.state()],
                "probe": [s.cpu() for s in self.probe_streams.state()],
                "rng": self.noise_streams.kind,
                "state": {**self.state.__dict__, "alive": self.state.alive.cpu()}}
        atomic_write(path, lambda tmp: torch.save(blob, tmp))

    def resume(self, path: Path) -> bool:
        if not path.exists():
            return False
        blob = torch.load(path, weights_only=False)
        if (blob["digest"] != self.digest() or blob.get("format") != MODEL_FORMAT
                or blob.get("rng", "generator") != self.noise_streams.kind):  # e.g. CPU->CUDA
            log.warning("%s belongs to another spec, code version or kind of random stream; "
                        "starting afresh", path)
            return False
        self.model.load_state_dict(blob["model"])
        for g, s in zip(self.order, blob["order"], strict=True):
            g.set_state(s)
        self.noise_streams.set_state(blob["noise"])
        self.probe_streams.set_state(blob["probe"])
        st = dict(blob["state"])
        st["alive"] = st["alive"].to(self.device)
        self.state = TrainState(**st)
        log.info("resumed from %s at epoch %d", path, self.state.epoch)
        return True

    # -- the loop ----------------------------------------------------------------------------
    def _probe(self, epoch: float, step: int) -> None:
        stats = activation_stats(self.model, self.data.probe, self.probe_streams)
        dead = ~self.state.alive.cpu()  # a diverged model is parked at zero: no statistics
        stats = {k: v.cpu().masked_fill(dead.view(-1, 1), math.nan) for k, v in stats.items()}
        for m, (cond, seed) in enumerate(self.models):
            for layer in range(stats["var_pre"].shape[1]):
                self.state.act_rows.append({
                    "condition": cond.name, "seed": seed, "step": step, "epoch": epoch,
                    "layer": layer + 1, "rate": cond.rates[layer],
                    **{k: float(v[m, layer]) for k, v in stats.items()}})

    def _sgd_step(self, grads: list[torch.Tensor]) -> None:
        # w <- w - lr (g + wd w) = w (1 - lr wd) - lr g, in place; decay on weights, not biases
        with torch.no_grad():
            for w, g in zip(self.model.weights, grads[: len(self.model.weights)], strict=True):
                if self.any_decay:
                    w.mul_(self.shrink)
                w.addcmul_(g, self.neg_lr)
            for b, g in zip(self.model.biases, grads[len(self.model.weights):], strict=True):
                b.addcmul_(g, self.neg_lr)

    def _fake_oom(self, epoch: int) -> None:
        limit = os.environ.get(FAKE_OOM)
        if limit and epoch == self.cond0.epochs and self.model.n_models > int(limit):
            raise torch.cuda.OutOfMemoryError(
                f"{FAKE_OOM}={limit}: {self.model.n_models} models are too many at once")

    def train_epoch(self, epoch: int, on_step=None) -> tuple[torch.Tensor, torch.Tensor]:
        self._fake_oom(epoch)
        tr, c = self.data.train, self.cond0
        n, bs, m = len(tr.y), c.batch_size, self.model.n_models
        perm = torch.stack([torch.randperm(n, generator=g) for g in self.order]).to(self.device)
        loss_sum = torch.zeros(m, device=self.device)
        correct = torch.zeros(m, device=self.device)
        steps = self.steps_per_epoch
        seen = min(n, steps * bs)
        fused = self.fused and self.model.has_fused_step
        move = self.neg_lr * self.state.alive.view(-1, 1, 1)  # a dead model stays put
        shrink = self.shrink if self.any_decay else None
        xbuf = None
        for step in range(steps):
            global_step = (epoch - 1) * steps + step
            if c.probe and epoch == 1 and step in self.spec.probe_steps:
                self._probe(global_step / steps, global_step)
            idx = perm[:, step * bs:(step + 1) * bs].reshape(-1)
            # index_select, not x[idx]: the same rows, gathered about 5x faster on CPU; into
            # one buffer reused every step (a fresh 8 MB tensor per step costs page faults)
            if xbuf is None or len(xbuf) != len(idx):
                xbuf = tr.x.new_empty(len(idx), tr.x.shape[1])
            x = torch.index_select(tr.x, 0, idx, out=xbuf).view(m, -1, tr.x.shape[1])
            y = tr.y.index_select(0, idx).view(m, -1)
            ctx = NoiseContext(self.noise_streams, progress=global_step / (steps * c.epochs))
            if fused:
                logits, losses = self.model.sgd_step(x, y, ctx, move / y.shape[1], shrink)
            else:
                logits = self.model(x, train=True, ctx=ctx)
                losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
                total = torch.where(self.state.alive, losses, torch.zeros_like(losses)).sum()
                grads = torch.autograd.grad(total, self.model.params)
                self._sgd_step(grads)
            with torch.no_grad():
                loss_sum += losses.detach() * y.shape[1]
                correct += (logits.detach().argmax(-1) == y).sum(1)
            if on_step is not None:
                on_step()
        return loss_sum / seen, correct / seen

    @property
    def steps_per_epoch(self) -> int:
        n, bs = len(self.data.train.y), self.cond0.batch_size
        return max(1, n // bs) if self.cond0.drop_last else math.ceil(n / bs)

    def run(self, out_dir: Path, progress: bool = False) -> None:
        """Train, then write the job's tables (this trainer holding all its models)."""
        self.fit(out_dir, progress)
        write_job(self.spec, [self], out_dir)
        self.checkpoint_path(out_dir).unlink(missing_ok=True)

    def fit(self, out_dir: Path, progress: bool = False) -> None:
        """Train every epoch, resuming from (and writing) this trainer's checkpoint in
        ``out_dir`` where the condition asks for them."""
        spec, c = self.spec, self.cond0
        ckpt = self.checkpoint_path(out_dir)
        if c.checkpoint_every:
            self.resume(ckpt)
        st = self.state  # after resume(), which replaces it
        bar = None
        if progress:
            from tqdm import tqdm

            steps = self.steps_per_epoch
            bar = tqdm(total=steps * c.epochs, initial=steps * st.epoch,
                       desc=f"{spec.experiment}/{spec.job}", unit="step", leave=False)
        log.info("%s/%s: %d models x %d epochs, starting at epoch %d%s", spec.experiment,
                 spec.job, len(self.models), c.epochs, st.epoch + 1,
                 "" if self.whole else f" (models {self.part.start}-{self.part.stop - 1} of "
                                       f"{len(spec.models)})")
        session_seconds, session_epochs = 0.0, 0
        while st.epoch < c.epochs:
            epoch = st.epoch + 1
            t0 = time.perf_counter()
            train_loss, train_acc = self.train_epoch(epoch, bar.update if bar else None)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            fit_seconds = time.perf_counter() - t0
            fit_loss, fit_acc = evaluate(self.model, self.data.train_eval, spec.eval_chunk)
            val_loss, val_acc = evaluate(self.model, self.data.val, spec.eval_chunk)
            test_loss, test_acc = evaluate(self.model, self.data.test, spec.eval_chunk)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            st.train_seconds += seconds
            self._record(epoch, seconds, fit_seconds, train_loss, train_acc, fit_loss, fit_acc,
                         val_loss, val_acc, test_loss, test_acc)
            if c.probe:
                self._probe(float(epoch), epoch * self.steps_per_epoch)
            st.epoch = epoch
            alive = int(st.alive.sum())
            session_seconds, session_epochs = session_seconds + seconds, session_epochs + 1
            left = session_seconds / session_epochs * (c.epochs - epoch)
            # the progress line `dropout-study status` reads from the job's log
            msg = (f"{spec.experiment}/{spec.job} epoch {epoch}/{c.epochs}: "
                   f"{seconds:.2f} s, {alive}/{len(st.alive)} models alive, "
                   f"mean test acc {float(test_acc[st.alive].mean()) if alive else math.nan:.4f}"
                   f", {left:.0f} s left")
            if bar is None:
                log.info(msg)
            if c.checkpoint_every and epoch % c.checkpoint_every == 0 and epoch < c.epochs:
                self.checkpoint(ckpt)
        if bar is not None:
            bar.close()

    def _record(self, epoch, seconds, fit_seconds, *metrics) -> None:
        st = self.state
        cpu = [t.cpu() for t in metrics]
        finite = torch.isfinite(cpu[0]) & (cpu[0] < self.spec.divergence_loss)
        newly = st.alive.cpu() & ~finite
        for m in torch.nonzero(newly).flatten().tolist():
            st.diverged_epoch[m] = epoch
            log.warning("model %d (%s, seed %d) diverged at epoch %d", self.part[m],
                        self.models[m][0].name, self.seeds[m], epoch)
        if bool(newly.any()):
            dead = newly.to(self.device)
            st.alive &= ~dead
            with torch.no_grad():  # park diverged models at zero so NaNs cannot spread
                for p in self.model.params:
                    p[dead] = 0.0
        names = ("train_loss", "train_acc", "train_eval_loss", "train_eval_acc",
                 "val_loss", "val_acc", "test_loss", "test_acc")
        alive = st.alive.cpu()
        for m, (cond, seed) in enumerate(self.models):
            row = {"condition": cond.name, "seed": seed, "epoch": epoch,
                   "diverged": not bool(alive[m]), "epoch_seconds": seconds,
                   "train_seconds": fit_seconds,
                   "models_in_job": len(self.spec.models)}
            for name, t in zip(names, cpu, strict=True):
                row[name] = float(t[m]) if alive[m] else math.nan
            st.rows.append(row)

    def run_rows(self) -> list[dict]:
        """One row per model of this trainer: the job's runs table."""
        spec, st = self.spec, self.state
        norms = self.model.weight_norms().cpu()
        runs = []
        for m, (cond, seed) in enumerate(self.models):
            runs.append({
                "experiment": spec.experiment, "condition": cond.name, "seed": seed,
                "job": spec.job, "model_index": self.part[m], "noise": cond.noise,
                "rate1": cond.rates[0], "rate2": cond.rates[1],
                "weight_decay": cond.weight_decay, "hidden": cond.hidden, "lr": cond.lr,
                "batch_size": cond.batch_size, "epochs": cond.epochs,
                "diverged": st.diverged_epoch[m] is not None,
                "diverged_epoch": st.diverged_epoch[m],
                **{f"weight_norm{i + 1}": float(norms[m, i]) for i in range(norms.shape[1])},
                **{f"factor_{k}": v for k, v in cond.factors},
            })
        return runs
