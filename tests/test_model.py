"""Model specs: validation errors name the file and layer, summaries match hand counts and Keras."""

from __future__ import annotations

import argparse
import json

import pytest

from conftest import ROOT
from tacit.commands import model as model_command
from tacit.errors import InputError
from tacit.model import count_params, flops_per_sequence, load_spec, summary_rows, validate_spec

TACIT_SPEC = ROOT / "models" / "tacit-500bp-conv5.json"
DEMO_SPEC = ROOT / "models" / "demo-small.json"


def write_spec(tmp_path, layers, **extra):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"name": "t", "input_length": 50, "layers": layers, **extra}))
    return path


def tacit_expected() -> tuple[int, int]:
    """Parameters and FLOPs of the TACIT spec counted by hand (FLOPs: 2 per multiply-add)."""
    params = (4 * 7 * 350 + 350) + 4 * (350 * 7 * 350 + 350)
    flops = 2 * 494 * 7 * 4 * 350 + sum(2 * length * 7 * 350 * 350 for length in (488, 482, 476, 470))
    flat = ((500 - 6 * 5) // 26) * 350  # five valid width-7 convolutions, then pools of 26: 18 x 350
    assert flat == 6300
    params += flat * 300 + 300 + 300 + 1
    flops += 2 * flat * 300 + 2 * 300
    return params, flops


def test_tacit_spec_counts():
    spec = load_spec(TACIT_SPEC)
    params, flops = tacit_expected()
    assert count_params(spec) == params == 5_332_151
    assert flops_per_sequence(spec) == flops
    rows = summary_rows(spec)
    assert [r["output_shape"] for r in rows if r["kind"] in ("maxpool1d", "flatten", "output")] == \
        [(18, 350), (6300,), (1,)]


def test_model_summary_command(capsys):
    parser = argparse.ArgumentParser()
    model_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["model", "summary", str(TACIT_SPEC)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    params, flops = tacit_expected()
    assert f"total parameters: {params:,}" in out
    assert f"FLOPs per sequence: {flops:,}" in out
    assert "(470, 350)" in out


def test_demo_spec_params_match_keras():
    spec = load_spec(DEMO_SPEC)
    from tacit.model import build_model

    model = build_model(spec, seed=3)
    assert model.count_params() == count_params(spec)
    assert model.input_shape == (None, 400, 4) and model.output_shape == (None, 1)


def test_defaults_filled(tmp_path):
    spec = load_spec(write_spec(tmp_path, [{"kind": "conv1d", "filters": 2, "width": 3}, {"kind": "flatten"}]))
    assert spec["layers"][0] == {"kind": "conv1d", "filters": 2, "width": 3, "activation": "relu", "padding": "valid"}
    assert spec["output"] == "sigmoid" and spec["training"]["batch_size"] == 64


@pytest.mark.parametrize("layers, extra, message", [
    ([{"kind": "conv1d", "filters": 2, "width": 3}, {"kind": "lstm"}], {}, r"layer 1: unknown kind 'lstm'"),
    ([{"kind": "conv1d", "filters": 2}], {}, r"layer 0 \(conv1d\): missing parameter 'width'"),
    ([{"kind": "conv1d", "filters": 2, "width": 3, "widht": 3}], {},
     r"layer 0 \(conv1d\): unknown parameter\(s\) widht"),
    ([{"kind": "conv1d", "filters": 2.5, "width": 3}], {}, r"layer 0 \(conv1d\): filters must be int"),
    ([{"kind": "dense", "units": 3}], {}, r"layer 0 \(dense\): needs a flat vector"),
    ([{"kind": "flatten"}, {"kind": "conv1d", "filters": 2, "width": 3}], {}, r"layer 1 \(conv1d\): needs a sequence"),
    ([{"kind": "conv1d", "filters": 2, "width": 51}], {}, r"layer 0 \(conv1d\): output shape \(0, 2\) is empty"),
    ([{"kind": "dropout", "rate": 1.5}, {"kind": "flatten"}], {}, r"layer 0 \(dropout\): rate must be in"),
    ([{"kind": "conv1d", "filters": 2, "width": 3, "activation": "swish2"}], {}, r"layer 0 \(conv1d\): activation"),
    ([{"kind": "conv1d", "filters": 2, "width": 3}], {}, r"the layers must end in a flat vector"),
    ([{"kind": "flatten"}], {"output": "softmax"}, r"output must be one of sigmoid"),
    ([{"kind": "flatten"}], {"training": {"epochs": 0}}, r"training.epochs must be a positive integer"),
    ([{"kind": "flatten"}], {"traning": {}}, r"unknown key\(s\) traning"),
])
def test_spec_errors_name_file_and_layer(tmp_path, layers, extra, message):
    with pytest.raises(InputError, match=r"spec\.json: " + message):
        load_spec(write_spec(tmp_path, layers, **extra))


def test_spec_file_errors(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",\n "layers": [}\n')
    with pytest.raises(InputError, match=r"bad\.json:2: not valid JSON"):
        load_spec(path)
    with pytest.raises(InputError, match="model spec not found"):
        load_spec(tmp_path / "missing.json")
    with pytest.raises(InputError, match="missing key 'input_length'"):
        validate_spec({"name": "x", "layers": []})


def test_model_build_command(tmp_path):
    from tacit.model import load_model

    parser = argparse.ArgumentParser()
    model_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["model", "build", str(DEMO_SPEC), str(tmp_path / "demo.keras"), "--seed", "2"])
    assert args.func(args) == 0
    first = (tmp_path / "demo.keras").read_bytes()
    assert load_model(tmp_path / "demo.keras").count_params() == count_params(load_spec(DEMO_SPEC))
    args.func(args)
    assert (tmp_path / "demo.keras").read_bytes() == first  # no time stamps or addresses in the archive
