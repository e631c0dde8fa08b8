"""The config surface, generated: whatever key a user misspells, whatever value out of range
or of the wrong type they give, `tftrain` refuses it at composition (before TensorFlow)
with one paragraph naming it, exit 2. Run as `tftrain --cfg job ...` in this process: a
generated override that were valid would print the config and exit 0, failing the test."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf

from conftest import in_process
from tftrain.config import checks, schema
from tftrain.config.compose import compose

schema.register()
DEFAULT = compose([])
GROUPS = ("trainer", "optimizer", "dataset", "objective", "callbacks.early_stopping")


def leaf_keys(node: DictConfig, prefix: str) -> list[str]:
    keys = []
    for key in node.keys():
        value = node._get_node(key)
        if isinstance(value, DictConfig):
            keys += leaf_keys(value, f"{prefix}{key}.")
        elif not str(key).startswith("_"):
            keys.append(f"{prefix}{key}")
    return keys


KEYS = sorted(k for group in GROUPS for k in leaf_keys(OmegaConf.select(DEFAULT, group), f"{group}."))
SIBLINGS = {k: {s.rsplit(".", 1)[1] for s in KEYS if s.rsplit(".", 1)[0] == k.rsplit(".", 1)[0]}
            for k in KEYS}
LETTERS = string.ascii_lowercase + "_"
PROFILE = settings(max_examples=25, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def misspelt(draw) -> tuple[str, str]:
    """A real key with one letter inserted, dropped or changed, that is no key at all."""
    key = draw(st.sampled_from(KEYS))
    parent, name = key.rsplit(".", 1)
    where = draw(st.integers(0, len(name) - 1))
    edit = draw(st.sampled_from(["insert", "drop", "change"]))
    letter = draw(st.sampled_from(LETTERS))
    typo = {"insert": name[:where] + letter + name[where:], "drop": name[:where] + name[where + 1:],
            "change": name[:where] + letter + name[where + 1:]}[edit]
    if not typo or typo in SIBLINGS[key]:
        typo = name + "x"
    return key, f"{parent}.{typo}"


def refused(tmp_path, *overrides: str) -> str:
    result = in_process("--cfg", "job", *overrides, cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("tftrain: error:") and len(message.splitlines()) == 1, message
    return message


@pytest.mark.slow  # each example composes every option of the key's group (~2 s)
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(misspelt())
def test_a_misspelt_key_is_refused_with_the_valid_keys_nearby(tmp_path, case):
    key, typo = case
    message = refused(tmp_path, f"{typo}=1")
    assert f"unknown key '{typo}'" in message
    assert key.rsplit(".", 1)[1] in message  # the real key is offered (as a near or valid key)


NUMBERS = {key: rule for key, rule in checks.LIMITS.items()
           if key not in ("shape", "image_size")}
RANGED = sorted(k for k in KEYS if k.rsplit(".", 1)[1] in NUMBERS
                and type(OmegaConf.select(DEFAULT, k)) in (int, float))


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
@PROFILE
@given(st.sampled_from(RANGED), st.floats(-1e6, 1e6, allow_nan=False))
def test_a_value_out_of_range_is_refused_naming_the_key_and_the_range(tmp_path, key, value):
    rule, wanted = NUMBERS[key.rsplit(".", 1)[1]]
    integer = isinstance(OmegaConf.select(DEFAULT, key), int)
    value = int(value) if integer else value
    if rule(value):
        value = -abs(value) - 1  # every range here excludes negative numbers
    message = refused(tmp_path, f"{key}={value}")
    assert key in message and wanted in message


# Numbers the schemas type (trainer, optimizer, dataset) or LIMITS constrains (a Keras node's).
TYPED = sorted(k for k in KEYS if type(OmegaConf.select(DEFAULT, k)) in (int, float)
               and (not k.startswith("callbacks.") or k.rsplit(".", 1)[1] in NUMBERS))


@PROFILE
@given(st.sampled_from(TYPED), st.text(LETTERS, min_size=1, max_size=8))
def test_a_word_where_a_number_belongs_is_refused_naming_the_key(tmp_path, key, word):
    if word in ("inf", "nan", "true", "false", "null", "on", "off", "yes", "no"):
        word = f"{word}_x"
    message = refused(tmp_path, f"{key}={word}")
    assert key in message and word in message


@pytest.mark.parametrize("group", ["model", "optimizer", "dataset", "trainer", "callbacks"])
def test_a_misspelt_option_is_refused_with_the_closest_option(tmp_path, group):
    from tftrain.config.describe import groups

    option = groups()[group][0]
    message = refused(tmp_path, f"{group}={option[:-1]}{option[-1] * 2}")
    assert f"Did you mean '{option}'" in message
