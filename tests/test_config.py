import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as hs

from dropout_study import config as cfgmod
from dropout_study.errors import ConfigError

from .conftest import ROOT

RAW = yaml.safe_load((ROOT / "config.yaml").read_text())


def resolve(**over):
    return cfgmod.resolve(RAW, over)


def test_default_and_presets_are_valid():
    for preset in RAW["presets"]:
        assert resolve(preset=preset)["preset"] == preset


def test_preset_then_command_line_override():
    cfg = resolve(preset="quick", seeds=5)
    assert cfg["seeds"] == 5  # the command line wins over the preset
    assert cfg["data"]["train_size"] == RAW["presets"]["quick"]["data"]["train_size"]
    assert cfg["data"]["split_seed"] == RAW["data"]["split_seed"]  # untouched by the preset


@pytest.mark.parametrize("over, key", [
    ({"seeds": 0}, "seeds"),
    ({"seeds": "ten"}, "seeds"),
    ({"device": "tpu"}, "device"),
    ({"training": {"rates": [1.2, 0.5]}}, "training.rates.0"),
    ({"training": {"lr": -1}}, "training.lr"),
    ({"experiments": {"layer_rates": {"p1": [0.2, 1.0]}}}, "experiments.layer_rates.p1.1"),
    ({"report": {"engine": "word"}}, "report.engine"),
    ({"data": {"validation_size": 500}}, "data.probe_size"),
])
def test_bad_values_are_refused_naming_the_key(over, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        resolve(**over)


def test_unknown_keys_and_presets_are_named():
    with pytest.raises(ConfigError, match="'sede'.*allowed: .*seeds"):
        resolve(sede=3)
    with pytest.raises(ConfigError, match="'nonsense'.*full, quick, smoke"):
        resolve(preset="nonsense")


TYPED_KEYS = {  # key path -> a strategy of values the schema must refuse
    ("seeds",): hs.one_of(hs.integers(max_value=0), hs.text(), hs.floats(),
                          hs.just(1.0), hs.just(True)),
    ("seeds_per_job",): hs.one_of(hs.integers(max_value=0), hs.booleans()),
    ("device",): hs.text().filter(lambda s: s not in ("auto", "cpu", "cuda")),
    ("training", "lr"): hs.one_of(hs.floats(max_value=0), hs.text()),
    ("training", "epochs"): hs.integers(max_value=0),
    ("training", "rates"): hs.lists(hs.floats(min_value=1, max_value=1e9), min_size=2,
                                    max_size=2),
    ("data", "validation_size"): hs.integers(max_value=99),
    ("experiments", "long_training", "epochs"): hs.integers(max_value=0),
}


@settings(max_examples=60, deadline=None)
@given(hs.sampled_from(sorted(TYPED_KEYS)), hs.data())
def test_random_wrong_values_always_name_their_key(path, data):
    value = data.draw(TYPED_KEYS[path])
    over: dict = {}
    node = over
    for p in path[:-1]:
        node = node.setdefault(p, {})
    node[path[-1]] = value
    with pytest.raises(ConfigError) as err:
        resolve(**over)
    assert ".".join(path) in str(err.value)


@pytest.mark.parametrize("arg, key", [("seeds=0", "seeds"), ("preset=nonsense", "preset")])
def test_snakemake_refuses_bad_config_before_any_job(arg, key, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile",
         str(ROOT / "Snakefile"), "--configfile", str(ROOT / "config.yaml"),
         "--directory", str(tmp_path), "--config", arg],
        capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert f"config key '{key}'" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()
