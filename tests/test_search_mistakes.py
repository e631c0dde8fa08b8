"""Mistakes in asking for an Optuna search, refused before any trial: one paragraph, exit 2,
no traceback, and no sweep folder (nor outputs/) left behind."""

from __future__ import annotations

import pytest

from conftest import in_process

pytest.importorskip("optuna", reason="pip install tftrain[optuna]")

SEARCH = ("-m", "hparams_search=optuna", "debug=smoke")


def refused(tmp_path, *args: str) -> str:
    """Run the command; assert it was refused as bad input and wrote nothing; its message."""
    result = in_process(*args, f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tftrain: error: "), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "something was written"
    return lines[0]


@pytest.mark.parametrize("dimension, said", [
    ("optimizer.learning_rate=tag(log, interval(0, 0.1))", "`low > 0` must hold for `log=True`"),
    ("optimizer.learning_rate=interval(0.1, 0.001)", "`low <= high` must hold"),
    ("trainer.epochs=range(1, 5, 0)", "range() arg 3 must not be zero"),
    ("trainer.epochs=range(5, 1)", "it sweeps no value"),
    ("optimizer.learning_rate=tag(lgo, interval(0.001, 0.1))", "unknown tag 'lgo'. Did you mean 'log'?"),
])
def test_a_dimension_optuna_cannot_search_is_named_with_the_valid_forms(tmp_path, dimension, said):
    message = refused(tmp_path, *SEARCH, dimension)
    assert repr(dimension) in message and said in message


def test_a_misspelt_key_in_a_search_dimension_is_refused_with_the_key_it_meant(tmp_path):
    message = refused(tmp_path, *SEARCH, "optimizer.lr=interval(0.001, 0.1)")
    assert "search dimension 'optimizer.lr'" in message
    assert "Did you mean 'optimizer.learning_rate'?" in message


def test_a_value_the_config_refuses_at_one_end_of_a_dimension_is_refused(tmp_path):
    message = refused(tmp_path, *SEARCH, "optimizer.learning_rate=interval(-0.1, 0.1)")
    assert "search dimension 'optimizer.learning_rate'" in message and "=-0.1" in message


def test_an_empty_choice_and_a_continuous_grid_are_refused(tmp_path):
    assert "empty choice" in refused(tmp_path, *SEARCH, "model=choice()")
    grid = refused(tmp_path, *SEARCH, "hydra/sweeper/sampler=grid")
    assert "'optimizer.learning_rate' is a continuous interval" in grid


def test_an_optuna_search_without_m_is_refused_rather_than_run_once(tmp_path):
    result = in_process("hparams_search=optuna", "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert "is a search over many runs: add -m" in result.stderr
    assert list(tmp_path.iterdir()) == []
