"""The `tftrain` command.

Hydra composes ``conf/`` with the command-line overrides and the schemas validate them;
nothing here imports TensorFlow, so ``--help`` and ``--cfg job`` are instant and work
where TensorFlow would not even import. The run itself starts in `tftrain.runner`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from tftrain import schema, sweep
from tftrain.console import fail
from tftrain.errors import TftrainError
from tftrain.process import exits_fast

CONFIG_NAME = "train"
HIDDEN_GROUPS = {"hydra", "schema"}
# Hydra flags that take a value: their value is no override.
VALUED_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp",
                "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun",
                "--shell-completion", "-sc"}


def config_dir() -> Path:
    """The packaged configs (wheel install) or the repository's conf/ (editable install)."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "conf"


def groups() -> dict[str, list[str]]:
    """Every config group (a folder of YAML options under conf/) and its options."""
    root = config_dir()
    found = {}
    for folder in sorted(p for p in root.rglob("*") if p.is_dir()):
        name = folder.relative_to(root).as_posix()
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if options and name.split("/")[0] not in HIDDEN_GROUPS:
            found[name] = options
    return found


def defaults() -> dict[str, str | None]:
    """The option each group gets when the command line does not pick one."""
    picked = {}
    for entry in OmegaConf.load(config_dir() / f"{CONFIG_NAME}.yaml").defaults:
        if isinstance(entry, DictConfig):
            for key, value in entry.items():
                picked[key] = value
    return picked


def help_text() -> str:
    chosen = defaults()
    lines = [
        "tftrain: train a TensorFlow/Keras model from composable YAML configs.",
        "",
        "Usage: tftrain [GROUP=OPTION ...] [KEY=VALUE ...] [-m] [--cfg job] [--help]",
        "",
        "Config groups (default first, marked *):",
    ]
    for group, options in groups().items():
        default = chosen.get(group)
        ordered = sorted(options, key=lambda o: o != default)
        shown = ", ".join(f"{o}*" if o == default else o for o in ordered)
        lines.append(f"  {group:<12} {shown}")
    lines += [
        "",
        "Examples:",
        "  tftrain                                   train the MLP on the embedded digits",
        "  tftrain model=cnn trainer=custom_loop     a CNN with the GradientTape loop",
        "  tftrain optimizer=sgd optimizer.learning_rate=0.05 trainer.epochs=10",
        "  tftrain debug=smoke                       a whole run in seconds (for CI)",
        "  tftrain ~callbacks.early_stopping         drop one callback",
        "  tftrain callbacks=[default,tensorboard]   add one",
        "  tftrain lr_schedule=warmup_cosine precision=mixed_float16",
        "  tftrain resume=outputs/2026-11-21/10-32-05   continue an interrupted run",
        "  tftrain -m optimizer.learning_rate=0.001,0.01   a sweep, one run folder per job",
        "  tftrain --cfg job                         print the composed config and exit",
        "",
        "Runs write outputs/YYYY-MM-DD/HH-MM-SS/ (move it with hydra.run.dir=PATH).",
        "Hydra's own flags: tftrain --hydra-help.",
        "Afterwards: tftrain-report outputs/ | tftrain-eval RUN_FOLDER | "
        "tftrain-predict RUN_FOLDER input=FILE",
    ]
    return "\n".join(lines)


def command_overrides(argv: list[str]) -> tuple[list[str], bool]:
    """The KEY=VALUE overrides of a command line, and whether it asks for a multirun."""
    overrides, skip, multirun = [], False, False
    for arg in argv:
        if skip:
            skip = False
        elif arg in VALUED_FLAGS:
            skip = True
        elif arg in ("-m", "--multirun"):
            multirun = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    return overrides, multirun


def explain(error: Exception, override_list: list[str]) -> str:
    """Turn a Hydra/OmegaConf composition error into one paragraph a user can act on."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    if isinstance(error, MissingConfigException) and error.options is not None:
        group = (error.missing_cfg_file or "").rsplit("/", 1)[0]
        bad = (error.missing_cfg_file or "").rsplit("/", 1)[-1]
        return (f"unknown option '{bad}' for config group '{group}'. "
                f"Choose one of: {', '.join(sorted(error.options))}.")
    cause = error.__cause__ or error
    key = getattr(cause, "full_key", None)
    given = next((o for o in override_list if key and o.lstrip("+~").split("=")[0] == key), None)
    if isinstance(cause, ValidationError) and key:
        message = str(cause).splitlines()[0]
        return f"bad value in '{given or key}': {message} (key '{key}')."
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and key:
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        valid = valid_keys(parent, [o for o in override_list if o != given])
        where = f"under '{parent}'" if parent else "at the top level"
        hint = f" Valid keys {where}: {', '.join(valid)}." if valid else ""
        return (f"unknown key '{key}' in override '{given or key}'.{hint} "
                f"To add a new key on purpose, write '+{given or key}'.")
    return " ".join(str(error).split())


def valid_keys(parent: str, override_list: list[str]) -> list[str]:
    try:
        cfg = compose(override_list)
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except Exception:
        return []
    return sorted(str(k) for k in node.keys()) if isinstance(node, DictConfig) else []


def compose(override_list: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return hydra_compose(CONFIG_NAME, overrides=override_list)


def preflight(argv: list[str]) -> str | None:
    """Compose every job a command line asks for; return the first error, explained.

    Hydra would find the same errors, but reports them tersely; composing first (a few
    milliseconds per job, no TensorFlow) lets each error name the valid choices.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    override_list, multirun = command_overrides(argv)
    try:
        parsed = OverridesParser.create().parse_overrides(override_list)
    except Exception as error:
        return " ".join(str(error).split())
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    variants = [fixed]
    if multirun:
        for override in parsed:
            if override.is_sweep_override() and override.is_discrete_sweep():
                variants += [fixed + [f"{override.get_key_element()}={value}"]
                             for value in override.sweep_string_iterator()]
    for variant in variants:
        try:
            schema.validate(compose(variant))
        except TftrainError as error:
            return str(error)
        except Exception as error:
            return explain(error, variant)
    return None


def _task(cfg: DictConfig) -> float:
    """Hydra's task function: validate, run, and turn a stopped run into a message.

    In a sweep, a job that fails or diverges leaves its verdict in its summary.json and the
    sweep goes on (the command exits non-zero at the end); a job that already completed in an
    earlier attempt of the same sweep is skipped.
    """
    from tftrain.errors import Diverged, Interrupted, user_error

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun:
        sweep.label_parallel_job()
        if (done := sweep.completed_objective(cfg)) is not None:
            return done
    try:
        try:
            schema.validate(cfg)
            from tftrain.runner import run  # the first TensorFlow import happens here

            return run(cfg)
        except (Diverged, Interrupted):
            raise
        except Exception as error:  # a TftrainError wrapped by a resolver or instantiate
            raise user_error(error) or error
    except (TftrainError, Diverged, Interrupted) as error:
        message = str(error)
        if isinstance(error, Diverged):
            message += f" The last good checkpoint is in {cfg.run_dir}/checkpoints/."
        if isinstance(error, Interrupted):
            message += f"; the last complete epoch is checkpointed. Resume with: tftrain resume={cfg.run_dir}"
        fail(message)
        if multirun and not isinstance(error, Interrupted):  # Ctrl-C stops the whole sweep
            return sweep.record_failure(cfg, error)
        if isinstance(error, TftrainError):
            discard_unfinished(Path(cfg.run_dir))
        sys.exit(error.exit_code)
    except Exception as error:
        if not multirun:
            raise
        fail(f"job {HydraConfig.get().job.num} failed: {type(error).__name__}: {error} "
             f"(traceback in {cfg.run_dir}/train.log)")
        return sweep.record_failure(cfg, error)


def discard_unfinished(run_dir: Path) -> None:
    """A run that failed before training leaves no folder; one that trained keeps it all."""
    bookkeeping = {".hydra", "train.log"}
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= bookkeeping:
        shutil.rmtree(run_dir, ignore_errors=True)


def expand_resume(argv: list[str]) -> list[str]:
    """`resume=DIR` reruns DIR's own overrides into DIR; arguments given now still apply."""
    given = next((a.split("=", 1)[1] for a in argv if a.startswith("resume=")), None)
    if not given:
        return argv
    folder = Path(given).expanduser().resolve()
    saved = folder / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise TftrainError(f"resume={given}: there is no tftrain run folder there "
                           f"(no {saved}); give the folder a run printed as its 'run folder'.")
    previous = [o for o in saved_overrides(folder) if not o.startswith("resume=")]
    rest = [a for a in argv if not a.startswith("resume=")]
    return [*previous, *rest, f"resume={folder}", f"hydra.run.dir={folder}"]


def saved_overrides(folder: Path) -> list[str]:
    """A run's overrides as typed: unresolved, since one may hold `${...}` for Hydra."""
    return OmegaConf.to_container(OmegaConf.load(folder / ".hydra" / "overrides.yaml"))


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


def command(argv: list[str]) -> int:
    """One `tftrain` command line, start to end, in this process; returns its exit status.

    `main` runs it as the console script; the tests run it in their worker process too, so
    that TensorFlow starts once per worker instead of once per test.
    """
    # Like `python -m`: the user's own modules (models, losses) import from the working folder.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    schema.register()
    sweep.start()
    if "--help" in argv or "-h" in argv:
        print(help_text())
        return 0
    try:
        argv = expand_resume(argv)
    except TftrainError as error:
        fail(str(error))
        return error.exit_code
    sys.argv[1:] = argv  # what Hydra parses
    if not any(flag in argv for flag in ("--config-dir", "-cd", "--config-name", "-cn")):
        problem = preflight(argv)
        if problem:
            fail(problem)
            return 2
    try:
        hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=CONFIG_NAME)(_task)()
    except SystemExit as stop:  # a run that failed, or Hydra's own usage errors
        if stop.code:
            return stop.code if isinstance(stop.code, int) else 1
    return sweep.exit_status()

if __name__ == "__main__":
    main()
