"""Configs and model files are data: neither may run code the user did not allow."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import in_process, run_cli


@pytest.mark.parametrize("override, target", [
    ("optimizer._target_=os.system", "os.system"),
    ("+callbacks.evil={_target_: subprocess.run, args: [touch, pwned]}", "subprocess.run"),
    ("metrics=[accuracy, {_target_: builtins.eval}]", "builtins.eval"),
])
def test_a_target_outside_the_allowlist_is_refused_at_composition(tmp_path, override, target):
    result = run_cli(override, "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert f"'{target}' is refused" in result.stderr
    module = target.split(".")[0]
    assert f"allow_targets: [{module}]" in result.stderr  # says how to allow it
    assert "Traceback" not in result.output
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "pwned").exists()


def test_a_refused_target_in_one_job_stops_the_sweep_before_any_job_runs(tmp_path):
    result = run_cli("-m", "debug=smoke", "optimizer._target_=keras.optimizers.SGD,os.system",
                     cwd=tmp_path)
    assert result.returncode == 2 and "'os.system' is refused" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_one_line_allows_the_users_own_module(tmp_path):
    (tmp_path / "mypackage.py").write_text("def double(y_true, y_pred):\n    return 2 * (y_true - y_pred)\n")
    loss = "loss={_target_: mypackage.double}"
    assert run_cli("--cfg", "job", loss, cwd=tmp_path).returncode == 2
    result = run_cli("--cfg", "job", loss, "allow_targets=[mypackage]", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "mypackage.double" in result.stdout


def lambda_model(path) -> None:
    """A model.keras carrying code: a Lambda layer, whose function Keras pickles."""
    import keras

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Lambda(lambda x: keras.ops.reshape(x, (-1, 64))[:, :10])(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(loss="mse")
    model.save(path)


def test_predict_refuses_a_model_file_carrying_code(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("[]\n")
    (run / "summary.json").write_text('{"status": "completed", "data": {"task": "regression"}}')
    lambda_model(run / "model.keras")
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 1), np.float32))
    result = in_process(str(run), "input=x.npy", cwd=tmp_path, tool="tftrain-predict")
    assert result.returncode == 2, result.output
    assert "safe mode" in result.stderr and "Traceback" not in result.output
    assert not (run / "predictions.csv").exists()


@pytest.mark.slow
def test_eval_and_predict_load_a_real_run_in_safe_mode_and_refuse_one_carrying_code(tmp_path):
    run = tmp_path / "run"
    result = in_process("debug=smoke", "trainer.epochs=1", f"hydra.run.dir={run}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    # a run folder written by tftrain loads with safe mode on
    assert in_process(str(run), cwd=tmp_path, tool="tftrain-eval").returncode == 0

    shutil.move(run / "model.keras", tmp_path / "good.keras")
    lambda_model(run / "model.keras")
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 1), np.float32))
    for tool, args in (("tftrain-eval", []), ("tftrain-predict", ["input=x.npy"])):
        result = in_process(str(run), *args, cwd=tmp_path, tool=tool)
        assert result.returncode == 2, result.output
        assert "safe mode" in result.stderr and "Traceback" not in result.output
