"""Pure functions, tested as functions (milliseconds each, no TensorFlow, no run): the
suggestions behind every "Did you mean", layering a run's overrides, reading numbers as
spreadsheets write them, the objective's rules, and how numbers are shown. The flows that use
them are tested end to end elsewhere; these pin their edges down cheaply."""

from __future__ import annotations

import errno
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tftrain import artifacts
from tftrain.config import objective
from tftrain.config.compose import layered
from tftrain.config.objective import Objective
from tftrain.console import number as shown
from tftrain.data.numbers import decimal_named, detect_decimal, notation, number
from tftrain.errors import TftrainError, WriteFailed, closest, did_you_mean, keyed, one_slip


# --- suggestions ----------------------------------------------------------------------

@pytest.mark.parametrize("typed, valid", [("acuracy", "accuracy"), ("accuarcy", "accuracy"),
                                          ("epochz", "epochs"), ("Dence", "Dense"), ("mea", "mean")])
def test_one_typing_slip_is_the_nearest_name(typed, valid):
    assert closest(typed, [valid, "binary_accuracy", "val_accuracy", "other"])[0] == valid


@given(st.text(alphabet="abcdefgh", min_size=1, max_size=8))
def test_a_name_is_never_one_slip_from_itself(word):
    assert not one_slip(word, word)


@given(st.text(alphabet="abcdef", min_size=2, max_size=8), st.integers(0, 7))
def test_dropping_any_one_letter_is_one_slip(word, where):
    where %= len(word)
    assert one_slip(word[:where] + word[where + 1:], word)


def test_did_you_mean_names_at_most_three_and_nothing_when_nothing_is_near():
    assert did_you_mean("zzzzzz", ["accuracy", "loss"]) == ""
    said = did_you_mean("los", ["loss", "val_loss", "lost", "los_angeles"])
    assert said.startswith(" Did you mean 'loss'") and said.count("'") <= 6
    assert did_you_mean("epochz", ["epochs"], prefix="trainer.") == " Did you mean 'trainer.epochs'?"


# --- layering overrides (eval and resume) ---------------------------------------------

def test_an_override_given_now_replaces_the_runs_own():
    assert layered(["trainer.epochs=3", "seed=1"], ["trainer.epochs=9"]) == ["seed=1", "trainer.epochs=9"]


def test_a_group_chosen_anew_drops_the_keys_of_the_option_it_replaces():
    saved = ["dataset=synthetic", "dataset.num_samples=500", "model=cnn"]
    assert layered(saved, ["dataset=digits"]) == ["model=cnn", "dataset=digits"]


def test_a_key_the_run_added_stays_added_and_deleting_it_drops_the_addition():
    saved = ["+callbacks.spy={_target_: spy.Spy}", "seed=2"]
    assert layered(saved, ["callbacks.spy.x=1"]) == [*saved, "callbacks.spy.x=1"]
    assert layered(saved, ["~callbacks.spy"]) == ["seed=2"]


# --- numbers as other tools write them --------------------------------------------------

@pytest.mark.parametrize("text, decimal, value", [
    ("1,234", ".", 1234.0), ("$452,600", ".", 452600.0), ("45%", ".", 45.0), ("-€1.234,5", ",", -1234.5),
    ("5,1", ",", 5.1), (" 12 ", ".", 12.0), ("1e3", ".", 1000.0), ("inf", ".", math.inf),
])
def test_numbers_in_spreadsheet_notation_are_read(text, decimal, value):
    assert number(text, decimal) == value


@pytest.mark.parametrize("text, decimal", [("1,2345", "."), ("abc", "."), ("12-3", "."), ("$", "."),
                                           ("1.234.5", ",")])
def test_what_is_no_number_stays_no_number(text, decimal):
    assert number(text, decimal) is None


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_a_plain_number_reads_back_as_itself(value):
    assert number(repr(value)) == value


def test_a_columns_notation_is_named_and_plain_numbers_have_none():
    assert "thousands separators" in notation(["1,234", "12"], ".")
    assert "currency signs" in notation(["$5", "$6"], ".")
    assert notation(["1.5", "2"], ".") is None


def test_decimal_commas_are_detected_only_where_commas_do_not_separate_fields():
    assert detect_decimal([["5,1", "a"], ["6,2", "b"]], ";") == ","
    assert detect_decimal([["5.1", "a"]], ";") == "."
    assert detect_decimal([["5", "1"]], ",") == "."
    assert decimal_named("comma") == "," and decimal_named(None) is None
    with pytest.raises(TftrainError, match="dataset.decimal=';'"), keyed("dataset"):
        decimal_named(";")  # the source names its parameter; the boundary keys it


# --- the objective -------------------------------------------------------------------

def test_auto_is_accuracy_for_a_single_target_classifier_that_logs_it_else_the_loss():
    logged = ["loss", "accuracy"]
    assert objective.decide("auto", "auto", "classification", False, logged, "yes")[0] == \
        Objective("val_accuracy", "max")
    assert objective.decide("auto", "auto", "regression", False, ["loss", "mae"], "yes")[0] == \
        Objective("val_loss", "min")
    assert objective.decide("auto", "auto", "classification", True, logged, "yes")[0].metric == "val_loss"
    assert objective.decide("auto", "auto", "classification", False, ["loss"], "yes")[0].metric == "val_loss"


def test_the_direction_a_search_is_created_with_is_the_one_its_runs_decide():
    for task, multi in (("classification", False), ("regression", False), ("classification", True)):
        for logs_accuracy in (True, False):
            logged = ["loss", "accuracy"] if logs_accuracy else ["loss"]
            run = objective.decide("auto", "auto", task, multi, logged, "yes")[0]
            assert objective.direction("auto", "auto", task, multi, logs_accuracy) == run.mode


def test_without_a_split_a_validation_metric_falls_back_to_its_twin_and_says_so():
    chosen, note = objective.decide("val_loss", "auto", "regression", False, ["loss"], "no split")
    assert chosen == Objective("loss", "min") and "training metric loss" in note


def test_a_validation_metric_no_epoch_reaches_is_refused_naming_why():
    why = objective.validation(True, 0, 2, 5)
    assert "every 5 epochs" in why
    with pytest.raises(TftrainError, match="every 5 epochs"):
        objective.decide("auto", "auto", "classification", False, ["loss", "accuracy"], why)
    assert objective.validation(True, 0, 10, 5) == "yes" and objective.validation(False, 0, 2, 5) == "no split"


def test_a_misspelt_metric_is_refused_with_the_closest_name():
    with pytest.raises(TftrainError, match="Did you mean 'val_accuracy'"):
        objective.logged_as("val_acuracy", "objective.metric", ["loss", "accuracy"], "yes")


def test_the_best_row_is_the_first_to_reach_the_best_value():
    rows = [{"epoch": 1, "m": 0.5}, {"epoch": 2, "m": 0.9}, {"epoch": 3, "m": 0.9}, {"epoch": 4}]
    assert Objective("m", "max").best_row(rows)["epoch"] == 2
    assert Objective("m", "min").best_row(rows)["epoch"] == 1
    assert Objective("m", "max").best_row([{"epoch": 1, "m": math.nan}]) is None


@pytest.mark.parametrize("metric, mode", [("val_auc", "max"), ("val_mae", "min"), ("f1_score", "max"),
                                          ("loss", "min"), ("val_r2_score", "max")])
def test_the_mode_follows_the_name_unless_given(metric, mode):
    assert objective.mode_of(metric) == mode and objective.mode_of(metric, "max") == "max"


# --- showing numbers and failing writes ------------------------------------------------

@pytest.mark.parametrize("value, text", [(0.98876, "0.9888"), (4.59e9, "4.59e+09"), (1.2e-6, "1.2e-06"),
                                         (0.0, "0.0000"), (math.inf, "inf"), (None, "")])
def test_numbers_are_shown_in_a_cell_of_fixed_width(value, text):
    assert shown(value) == text


def test_a_write_failure_names_the_path_and_the_systems_reason(tmp_path):
    error = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "model.keras"))
    failed = artifacts.write_failure(error, tmp_path)
    assert isinstance(failed, WriteFailed) and failed.exit_code == 74
    assert str(failed) == f"could not write {tmp_path / 'run' / 'model.keras'}: No space left on device (ENOSPC)."
    assert artifacts.write_failure(OSError(errno.ENOENT, "gone", str(tmp_path / "x")), tmp_path) is None
    assert artifacts.write_failure(error, Path("/elsewhere")) is None


def test_a_whole_file_lands_under_a_temporary_name_first(tmp_path):
    target = tmp_path / "summary.json"
    artifacts.staged(target).mkdir()  # the system refuses to write there
    with pytest.raises(WriteFailed, match="summary.json: Is a directory"):
        artifacts.write_text_atomic(target, "{}")
    assert not target.exists()


# --- walking a config tree ------------------------------------------------------------

def test_one_walker_reads_plain_and_omegaconf_trees_alike_without_resolving():
    from omegaconf import OmegaConf

    from tftrain.config.tree import leaves, mapped, with_targets

    plain = {"a": {"_target_": "k.L", "x": "${later:1}"}, "b": [1, {"_target_": "k.M"}], "c": "???"}
    config = OmegaConf.create(plain)
    for tree in (plain, config):
        assert dict(leaves(tree)) == {"a._target_": "k.L", "a.x": "${later:1}", "b.0": 1,
                                      "b.1._target_": "k.M", "c": "???"}
        assert [path for path, _ in with_targets(tree, "cfg")] == ["cfg.a", "cfg.b.1"]
    assert mapped(config, lambda path, value: path) == \
        {"a": {"_target_": "a._target_", "x": "a.x"}, "b": ["b.0", {"_target_": "b.1._target_"}], "c": "c"}


def test_a_null_or_unset_container_is_a_leaf_to_the_walker():
    from omegaconf import OmegaConf

    from tftrain.config.tree import leaves

    config = OmegaConf.create({"facts": None, "later": "???", "x": {"y": "${facts}"}})
    assert dict(leaves(config)) == {"facts": None, "later": "???", "x.y": "${facts}"}
