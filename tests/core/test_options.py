"""Every field of every options class, generated from the definitions: invalid values are
refused alike by the command line (exit status 2, the message) and the Python API
(InputError, the same message), and nothing is written."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import typing
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_console
from crmss import cli
from crmss.core.errors import InputError
from crmss.core.options import (
    CloudParameters,
    EvaluateOptions,
    PredictOptions,
    SimulateOptions,
    TrainOptions,
)
from crmss.core.validation import Exists, Interval, Matches, flag_of, speaking_command_line, unpack

#: command -> the options classes its arguments fill (simulate's nested cloud parameters too)
COMMANDS = {
    name: (owner, CloudParameters) if owner is SimulateOptions else (owner,)
    for name, (owner, _, _) in cli.COMMANDS.items()
}


@pytest.fixture
def place(tmp_path):
    """Valid required values per command (existing inputs, new outputs) as the API takes them."""
    for folder in ("products", "data", "run", "results"):
        (tmp_path / folder).mkdir()
    (tmp_path / "split.csv").write_text("Training set,,\n")
    return {
        "prepare": {"products": tmp_path / "products", "out": tmp_path / "prepared"},
        "train": {"data": tmp_path / "data", "out": tmp_path / "new_run"},
        "test": {
            "data": tmp_path / "data",
            "models": (str(tmp_path / "run"),),
            "out": tmp_path / "evaluated",
        },
        "predict": {
            "products": (tmp_path / "products",),
            "model": tmp_path / "run",
            "out": tmp_path / "predicted",
        },
        "simulate": {"data": tmp_path / "data", "out": tmp_path / "simulated"},
        "report": {"results": (str(tmp_path / "results"),), "out": tmp_path / "tables"},
        "demo": {"out": tmp_path / "demo"},
        "reproduce": {"out": tmp_path / "protocol", "synthetic": 2},
    }


def _strip(hint):
    bare, constraints, _ = unpack(hint)
    return bare, list(constraints)


def invalid_values(owner: type, name: str) -> list:
    """Representative invalid values of a field, as the command line's text, derived from its
    annotation: wrong type, out of range, not finite, not a multiple, unknown choice, missing
        path."""
    bare, constraints = _strip(typing.get_type_hints(owner, include_extras=True)[name])
    if typing.get_origin(bare) is Literal:
        return ["nonsense"]
    if typing.get_origin(bare) is tuple:
        item, _ = _strip(typing.get_args(bare)[0])
        if typing.get_origin(item) is Literal:
            return [["nonsense"]]
        if item not in (int, float):
            return []  # names and paths: checked where they are used
        pairs = [["abc", "1"], ["nan", "1"], ["0.9", "0.8"]]
        low = next(
            (c.low for c in _strip(typing.get_args(bare)[0])[1] if isinstance(c, Interval)), None
        )
        return pairs + ([[str(low - 1), "0.5"]] if low is not None else [])
    values = []
    for constraint in constraints:
        if isinstance(constraint, Interval):
            values += ["abc", "nan", "inf"] if bare is float else ["abc", "2.5"]
            step = 1 if bare is int else 0
            if constraint.low is not None:
                values.append(
                    _text(constraint.low - (0 if constraint.low_open else max(step, 0.5)))
                )
            if constraint.high is not None:
                values.append(
                    _text(constraint.high + (0 if constraint.high_open else max(step, 0.5)))
                )
            if constraint.multiple:
                values.append(_text((constraint.low or 0) + constraint.multiple + 1))
        if isinstance(constraint, Exists):
            values.append("/nonexistent/crmss-test")
        if isinstance(constraint, Matches):
            values.append("TPU:0")
    return values


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def cases():
    for command, classes in COMMANDS.items():
        for owner in classes:
            for field in dataclasses.fields(owner):
                for value in invalid_values(owner, field.name):
                    yield pytest.param(
                        command, owner, field.name, value, id=f"{command}-{field.name}-{value}"
                    )


def _argv(command: str, values: dict) -> list[str]:
    """The command line that says ``values`` (API values: paths, tuples) for ``command``."""
    argv, positional = [command], []
    for owner in COMMANDS[command]:
        for field in dataclasses.fields(owner):
            if field.name not in values:
                continue
            value = values[field.name]
            texts = [str(v) for v in value] if isinstance(value, (tuple, list)) else [str(value)]
            flag = flag_of(field)
            if flag.startswith("--"):
                argv += [flag, *texts]
            else:
                positional += texts
    return argv + positional


def _api(command: str, values: dict):
    """The options object the API builds from ``values`` (split between a command's classes)."""
    main, *nested = COMMANDS[command]
    names = {f.name for f in dataclasses.fields(main)}
    inner = {k: v for k, v in values.items() if k not in names}
    outer = {k: v for k, v in values.items() if k in names}
    if nested:
        outer["clouds"] = nested[0](**inner)
    return main(**outer)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("command, owner, name, value", list(cases()))
def test_every_field_refuses_invalid_values_alike_through_both_doors(
    command, owner, name, value, place, tmp_path, capsys
):
    values = {**place[command], name: value}
    with pytest.raises(InputError) as api:
        _api(command, values)
    # it names the argument as Python does
    assert str(api.value).startswith((f"{name}=", f"{name}:")), api.value
    with speaking_command_line(), pytest.raises(InputError) as flagged:
        _api(command, values)
    flag = flag_of({f.name: f for f in dataclasses.fields(owner)}[name])
    assert str(flagged.value).startswith(flag), flagged.value  # the same rule, naming the flag
    before = _tree(tmp_path)
    capsys.readouterr()
    assert cli.main(_argv(command, values)) == 2
    assert capsys.readouterr().err == f"crmss {command}: error: {flagged.value}\n"
    assert _tree(tmp_path) == before  # nothing written


def test_every_field_has_a_rule_and_a_case():
    """No field is forgotten: each one either has invalid values generated or accepts any text (a
    path to create, a name)."""
    unchecked = []
    for classes in COMMANDS.values():
        for owner in classes:
            for field in dataclasses.fields(owner):
                bare, constraints = _strip(
                    typing.get_type_hints(owner, include_extras=True)[field.name]
                )
                if (
                    not invalid_values(owner, field.name)
                    and bare is not bool
                    and not dataclasses.is_dataclass(bare)
                ):
                    unchecked.append(f"{owner.__name__}.{field.name}")
    assert sorted(unchecked) == sorted(
        [
            "PrepareOptions.out",
            "TrainOptions.out",
            "EvaluateOptions.models",
            "EvaluateOptions.out",
            "PredictOptions.products",
        ]
        + [
            "PredictOptions.out",
            "PredictOptions.mask",  # none, haze or a file: refused when missing (test_masks.py)
            "SimulateOptions.out",
            "ReportOptions.results",
            "ReportOptions.out",
            "DemoOptions.out",
        ]
        + ["ReproduceOptions.out"]
    )


def test_bool_fields_and_nested_options_take_only_their_type(place):
    with pytest.raises(InputError, match="mixed_precision='yes': give True or False"):
        TrainOptions(**place["train"], mixed_precision="yes")
    with pytest.raises(InputError, match="progress=1: give True or False"):
        PredictOptions(**place["predict"], progress=1)
    with pytest.raises(InputError, match="clouds: give a CloudParameters, not dict"):
        SimulateOptions(**place["simulate"], clouds={"seed": 1})
    with pytest.raises(InputError, match="epochs=True: not a whole number"):
        TrainOptions(**place["train"], epochs=True)


WEIGHTS_ZERO = {"adversarial_weight": 0, "l1_weight": 0, "gradient_weight": 0}


def test_cross_field_rules_are_the_same_through_both_doors(place, capsys):
    refused = [
        (
            "train",
            WEIGHTS_ZERO,
            "adversarial_weight=0.0, l1_weight=0.0, gradient_weight=0.0: the "
            "generator would learn nothing",
        ),
        (
            "reproduce",
            WEIGHTS_ZERO,
            "adversarial_weight=0.0, l1_weight=0.0, gradient_weight=0.0: "
            "the generator would learn nothing",
        ),
        (
            "predict",
            {"tile": 256, "overlap": 200},
            "overlap=200: at most half the tile (128 for tile=256)",
        ),
        (
            "simulate",
            {"thickness": (0, 0)},
            "thickness=(0.0, 0.0): clouds of zero thickness add no cloud",
        ),
        ("simulate", {"cover": (0.9, 0.5)}, "cover=(0.9, 0.5): the minimum exceeds the maximum"),
        (
            "test",
            {"models": ("/nonexistent/run",)},
            "models='/nonexistent/run': no such run folder or .keras file",
        ),
        ("test", {"methods": ("hot", "hot")}, "methods=('hot', 'hot'): a method named twice"),
    ]
    flags = [
        "--adversarial-weight 0, --l1-weight 0, --gradient-weight 0: the generator would learn "
        "nothing",
        "--adversarial-weight 0, --l1-weight 0, --gradient-weight 0: the generator would learn "
        "nothing",
        "--overlap 200: at most half the tile (128 for --tile 256)",
        "--thickness 0 0: clouds of zero thickness add no cloud",
        "--cover 0.9 0.5: the minimum exceeds the maximum",
        "--model /nonexistent/run: no such run folder or .keras file",
        "--methods hot hot: a method named twice",
    ]
    for (command, values, message), flagged in zip(refused, flags):
        with pytest.raises(InputError) as api:
            _api(command, {**place[command], **values})
        assert str(api.value).startswith(message)  # the library names the fields as Python does
        capsys.readouterr()
        assert cli.main(_argv(command, {**place[command], **values})) == 2
        # the command line names the same rule's fields by their flags
        said = capsys.readouterr().err
        assert said.startswith(f"crmss {command}: error: {flagged}") and said.endswith(
            str(api.value).removeprefix(message) + "\n"
        )


@pytest.mark.slow
def test_the_installed_command_refuses_before_loading_tensorflow(place, tmp_path):
    refused = run_console(
        "train", "--data", place["train"]["data"], "--out", tmp_path / "new", "--width", "0"
    )
    assert refused.returncode == 2 and refused.stderr == (
        "crmss train: error: --width 0: out of range; give a whole number from 1 to 256\n"
    )
    refused = run_console(
        "predict",
        tmp_path / "products",
        "--model",
        tmp_path / "run",
        "--out",
        tmp_path / "p",
        "--tile",
        "100",
    )
    assert (
        refused.returncode == 2
        and "--tile 100: out of range; give a whole number from 64 to 16384, a multiple of 32"
        in refused.stderr
    )
    assert not (tmp_path / "new").exists() and not (tmp_path / "p").exists()


NUMERIC = [
    (owner, f.name)
    for owner in (TrainOptions, PredictOptions, EvaluateOptions)
    for f in dataclasses.fields(owner)
]
NUMERIC = [
    (o, n)
    for o, n in NUMERIC
    if _strip(typing.get_type_hints(o, include_extras=True)[n])[0] in (int, float)
]
COMMAND_OF = {TrainOptions: "train", PredictOptions: "predict", EvaluateOptions: "test"}


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(NUMERIC),
    text=st.one_of(
        st.text(max_size=8),
        st.integers().map(str),
        st.integers(1, 400).map(lambda n: "9" * n),
        st.floats().map(repr),
    ),
)
def test_any_text_gives_the_same_value_or_the_same_message_through_both_doors(
    tmp_path_factory, field, text
):
    """Property: for any text of any numeric option, the command line's parse and the API agree."""
    owner, name = field
    root = tmp_path_factory.getbasetemp() / "numeric"
    for folder in ("data", "run", "products"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    values = {
        TrainOptions: {"data": root / "data", "out": root / "new"},
        PredictOptions: {
            "products": (root / "products",),
            "model": root / "run",
            "out": root / "out",
        },
        EvaluateOptions: {
            "data": root / "data",
            "models": (str(root / "run"),),
            "out": root / "results",
        },
    }[owner]
    command = COMMAND_OF[owner]
    argv = _argv(command, values) + [
        flag_of({f.name: f for f in dataclasses.fields(owner)}[name]),
        text,
    ]
    if text.startswith("-") and not _looks_negative(text):
        return  # argparse reads it as an option, not a value: a usage error of its own
    try:
        parsed = cli.build_parser().parse_args(argv)
    except SystemExit:
        return  # e.g. an empty text where argparse wants a value
    outcomes = []
    for build in (lambda: parsed.options(parsed), lambda: owner(**values, **{name: text})):
        try:
            outcomes.append(("value", getattr(build(), name)))
        except InputError as exc:
            outcomes.append(("refused", str(exc)))
    assert outcomes[0] == outcomes[1] or (
        outcomes[0][0] == "value" and _same(outcomes[0][1], outcomes[1][1])
    ), (text, outcomes)


def _looks_negative(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"-\d+$|-\d*\.\d+", text))


def _same(a, b) -> bool:
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


#: run in a fresh Python where GDAL, TensorFlow and Keras cannot be imported
WITHOUT_GDAL = (
    "import sys\nfor name in ('osgeo', 'tensorflow', 'keras'):\n    sys.modules[name] "
    "= None\nfrom crmss import cli\n"
)


def test_every_help_works_without_gdal_and_tensorflow():
    """``crmss --help`` and each command's ``--help`` need neither GDAL nor TensorFlow."""
    commands = ["", *cli.COMMANDS]
    script = (
        WITHOUT_GDAL
        + "for command in sys.argv[1:]:\n"
        + "    try:\n        cli.main([*command.split(), '--help'])\n"
        + "    except SystemExit as exc:\n        assert exc.code == 0, command\n"
    )
    run = subprocess.run([sys.executable, "-c", script, *commands], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("usage: crmss") == len(commands), run.stdout[-2000:]


def test_a_command_without_gdal_names_the_install_route(tmp_path):
    script = WITHOUT_GDAL + "sys.exit(cli.main(sys.argv[1:]))"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "prepare",
            "--products",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        run.returncode == 2
        and "GDAL's Python bindings (osgeo) are not installed" in run.stderr
        and "environment.yml" in run.stderr
    ), run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


def test_main_returns_its_status_and_leaves_the_process_as_it_found_it(tmp_path):
    """A refused command in the same process: main returns 2 (it does not end the process), and
    afterwards GDAL prints its warnings again, the SIGTERM handler and crmss's logger are as
    before."""
    script = (
        "import logging, signal, sys\nfrom osgeo import gdal\nfrom crmss import cli\n"
        "before = (signal.getsignal(signal.SIGTERM), logging.getLogger('crmss').handlers[:], "
        "logging.getLogger('crmss').level)\n"
        "status = cli.main(['prepare', '--products', sys.argv[1], '--out', sys.argv[2]])\n"
        "assert (signal.getsignal(signal.SIGTERM), logging.getLogger('crmss').handlers, "
        "logging.getLogger('crmss').level) == before\n"
        "gdal.Error(gdal.CE_Warning, 1, 'a warning after main')\nprint('status', status)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "absent"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "status 2" in run.stdout, run.stderr[-2000:]
    assert "a warning after main" in run.stderr, run.stderr[-2000:]


@pytest.mark.parametrize(
    "module, code, words",
    [
        (
            "pystac",
            "import crmss, json, pathlib, sys\npath = pathlib.Path(sys.argv[1], 'item.json')\n"
            "path.write_text(json.dumps({'type': 'Feature', 'stac_version': '1.0.0', 'id': "
            "'x'}))\ncrmss.open_product(path)\n",
            "reading STAC items needs pystac, which is not installed: pip install 'crmss[stac]'",
        ),
        (
            "distributed",
            "from crmss.core.cluster import connect\nconnect('tcp://127.0.0.1:9')\n",
            "scheduler='tcp://127.0.0.1:9' needs distributed, which is not installed: pip install "
            "'crmss[cluster]'",
        ),
    ],
    ids=["STAC without pystac", "a cluster without Dask"],
)
def test_an_optional_feature_without_its_package_names_the_extra(tmp_path, module, code, words):
    script = (
        f"import sys\nsys.modules[{module!r}] = None\nfrom crmss.core.errors import "
        "InputError\ntry:\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + "except InputError as exc:\n    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True
    )
    assert run.returncode == 0 and words in run.stdout, run.stdout + run.stderr[-2000:]
