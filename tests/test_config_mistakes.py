"""Config mistakes a tester found handled badly, each refused at its door (README, Errors):
one paragraph on stderr naming the input, what was found and what would be valid (the
closest valid names for a misspelling), exit status 2, no traceback, no run folder.

Mistakes refused while composing run as a user runs them, in a process where TensorFlow
cannot be imported: composing must never need it. Those found while instantiating
`_target_`s (TensorFlow imported) run in this process.
"""

from __future__ import annotations

import pytest

from conftest import in_process, run_cli
from tftrain.errors import closest


def assert_refused(result, fragments: list[str], absent: tuple[str, ...] = ()) -> None:
    """The promise: exit 2, one paragraph starting 'tftrain: error:' that holds every
    fragment, no traceback."""
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output, result.output
    message = result.stderr.strip()
    assert message.startswith("tftrain: error:") and len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    for fragment in absent:
        assert fragment not in message, (fragment, message)


# Refused while composing: (overrides, fragments of the message).
COMPOSED = {
    "list-group-without-brackets": (
        ["callbacks=default,tensorboard"],
        ["'callbacks=[default,tensorboard]'", "quoted in a shell", "add -m"]),
    "another-list-group-without-brackets": (
        ["logger=csv,tensorboard"], ["'logger=[csv,tensorboard]'", "add -m"]),
    "list-key-without-brackets": (
        ["dataset=synthetic", "dataset.shape=28,28,1"], ["'dataset.shape=[28,28,1]'"]),
    "sweep-without-m": (
        ["trainer.epochs=1,2"], ["a sweep, which needs -m", "tftrain -m 'trainer.epochs=1,2'"]),
    "one-option-group-swept-without-m": (
        ["optimizer=adam,sgd"], ["a sweep, which needs -m", "tftrain -m 'optimizer=adam,sgd'"]),
    "option-typo-inside-a-list": (
        ["callbacks=[default,tensorbord]"],
        ["unknown option 'tensorbord' for config group 'callbacks'", "Did you mean 'tensorboard'",
         "Choose one of: backup, csv_logger, default, early_stopping"]),
    "deleted-key-typo": (
        ["~callbacks.early_stoping"],
        ["unknown key 'callbacks.early_stoping'", "'~callbacks.early_stoping'",
         "Did you mean 'callbacks.early_stopping'", "Valid keys under 'callbacks': backup"]),
    "deleted-key-that-is-null": (["~loss"], ["'~loss'", "loss is null already"]),
    "list-index-past-the-end": (
        ["model.layers.5.units=3"],
        ["'model.layers.5.units=3'", "model.layers has 4 entries (model.layers.0 to model.layers.3)",
         "no model.layers.5", "'model.layers=[...]'"]),
    "list-entry-key-typo": (
        ["model.layers.1.unit=3"],
        ["unknown key 'model.layers.1.unit' in override 'model.layers.1.unit=3'",
         "Did you mean 'model.layers.1.units'", "Valid keys under 'model.layers.1'",
         "write '+model.layers.1.unit=3'"]),
    "piecewise-values-and-boundaries-disagree": (
        ["lr_schedule=piecewise", "lr_schedule.values=[0.1,0.01]"],
        ["lr_schedule.values", "one value more than boundaries"]),
    "cosine-starting-at-zero-without-warmup": (
        ["lr_schedule=cosine", "lr_schedule.initial_learning_rate=0.0"],
        ["lr_schedule.initial_learning_rate", "without warmup_target"]),
    "epochs-to-steps-of-negative-epochs": (
        ["lr_schedule=cosine", "lr_schedule.decay_steps=${epochs_to_steps:-2}"],
        ["lr_schedule.decay_steps='${epochs_to_steps:-2}'", "a number of epochs >= 0"]),
}


@pytest.mark.parametrize("case", sorted(COMPOSED))
def test_a_config_mistake_is_refused_while_composing_without_tensorflow(tmp_path, no_tensorflow, case):
    overrides, fragments = COMPOSED[case]
    result = run_cli("debug=smoke", *overrides, cwd=tmp_path, env=no_tensorflow)
    assert_refused(result, fragments)
    assert not (tmp_path / "outputs").exists()


def test_a_sweep_of_numbers_without_m_offers_no_list(tmp_path, no_tensorflow):
    """trainer.epochs takes one number: brackets or quotes would only move the mistake."""
    result = run_cli("trainer.epochs=1,2", cwd=tmp_path, env=no_tensorflow)
    assert_refused(result, ["needs -m"], absent=("[1,2]", "'1,2'\""))


# A key's range: (overrides that choose the option, key, the value at the edge, one past it).
RANGES = [
    ([], "seed", "4294967295", "4294967296"),
    ([], "seed", "0", "-1"),
    (["lr_schedule=cosine"], "lr_schedule.alpha", "1", "-3"),
    (["lr_schedule=cosine"], "lr_schedule.decay_steps", "1", "0"),
    (["lr_schedule=warmup_cosine"], "lr_schedule.warmup_steps", "0", "-5"),
    (["lr_schedule=warmup_cosine"], "lr_schedule.warmup_target", "0.5", "0"),
    (["lr_schedule=exponential"], "lr_schedule.decay_rate", "0.5", "0"),
    (["lr_schedule=piecewise"], "lr_schedule.values", "[0.1,0.01,0.001]", "[0.1,-0.01,0.001]"),
    (["lr_schedule=piecewise"], "lr_schedule.boundaries", "[0,5]", "[5,5]"),
]


@pytest.mark.parametrize("options,key,edge,past", RANGES,
                         ids=[f"{key}={past}" for _, key, _, past in RANGES])
def test_a_value_just_out_of_range_is_refused_while_composing_and_the_edge_is_kept(
        tmp_path, no_tensorflow, options, key, edge, past):
    kept = in_process("--cfg", "job", *options, f"{key}={edge}", cwd=tmp_path)
    assert kept.returncode == 0, kept.output
    result = run_cli("debug=smoke", *options, f"{key}={past}", cwd=tmp_path, env=no_tensorflow)
    assert_refused(result, [key, "is not valid: use"])
    assert not (tmp_path / "outputs").exists()


# Refused while instantiating `_target_`s, or once an interpolation resolves.
INSTANTIATED = {
    "activation-typo": (
        ["model.layers.1.activation=relu6x"],
        ["model.layers.1.activation='relu6x' is not a Keras activation name",
         "Did you mean 'relu6'", "Keras knows: celu, elu"]),
    "initializer-typo": (
        ["+model.layers.1.kernel_initializer=glorot_unifrom"],
        ["model.layers.1.kernel_initializer='glorot_unifrom'", "Did you mean 'glorot_uniform'"]),
    "metric-one-letter-dropped": (["metrics=[acuracy]"], ["metrics.0='acuracy'", "Did you mean 'accuracy'"]),
    "metric-another-letter-dropped": (["metrics=[accurcy]"], ["Did you mean 'accuracy'"]),
    "loss-alias-typo": (["loss=mse_x"], ["loss='mse_x'", "Did you mean 'mse'"]),
    "boundaries-that-decrease-once-resolved": (
        ["lr_schedule=piecewise", "lr_schedule.boundaries=[${epochs_to_steps:2},1]"],
        ["lr_schedule.boundaries=[", "increasing step numbers"]),
}


@pytest.mark.parametrize("case", sorted(INSTANTIATED))
def test_a_mistake_found_while_instantiating_names_the_closest_valid_name(tmp_path, case):
    overrides, fragments = INSTANTIATED[case]
    result = in_process("debug=smoke", *overrides, cwd=tmp_path)
    assert_refused(result, fragments)
    assert not (tmp_path / "outputs").exists()


def test_a_name_one_typing_slip_away_is_suggested_first():
    activations = ["celu", "elu", "gelu", "relu", "selu", "silu", "swish"]
    assert closest("sleu", activations)[0] == "selu"  # two letters swapped (difflib: silu)
    assert closest("elp", ["resmlp", "mlp", "cnn"])[0] == "mlp"  # one changed (difflib: resmlp)
    assert closest("Adam", ["adamw", "adam"])[0] == "adam"  # the same name in other case first
