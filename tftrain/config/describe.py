"""What the config offers, told without running anything (no TensorFlow): `tftrain --help`
(the groups and their options, a user's --config-dir included) and `--version`."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from tftrain.config.sources import PACKAGED, PRIMARY, Source, packaged

HIDDEN_GROUPS = {"hydra", "schema"}
def groups(source: Source = PACKAGED) -> dict[str, list[str]]:
    """Every config group (a folder of YAML options under conf/, and a user's --config-dir)
    and its options."""
    return source.groups(HIDDEN_GROUPS)


def defaults() -> dict[str, str | None]:
    """The option each group gets when the command line does not pick one."""
    picked = {}
    for entry in OmegaConf.load(packaged() / f"{PRIMARY}.yaml").defaults:
        if isinstance(entry, DictConfig):
            for key, value in entry.items():
                picked[key] = value
    return picked


def help_text(source: Source = PACKAGED) -> str:
    chosen = defaults()
    lines = [
        "tftrain: train a TensorFlow/Keras model from composable YAML configs.",
        "",
        "Usage: tftrain [GROUP=OPTION ...] [KEY=VALUE ...] [-m] [--cfg job] [--help]",
        "",
        "Config groups (default first, marked *):",
    ]
    for group, options in groups(source).items():
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
        "Hydra's own flags: tftrain --hydra-help. Versions: tftrain --version.",
        "Before a long run: tftrain-tune lr OVERRIDES | tftrain-tune batch OVERRIDES",
        "Afterwards: tftrain-report outputs/ | tftrain-eval RUN_FOLDER | "
        "tftrain-predict RUN_FOLDER input=FILE",
        "            tftrain-export RUN_FOLDER format=all   (each command: --help)",
    ]
    return "\n".join(lines)


def version_line() -> str:
    """tftrain's version and those of what it runs on, read without importing them."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from tftrain import __version__

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return (f"tftrain {__version__} (TensorFlow {installed('tensorflow')}, Keras "
            f"{installed('keras')}, Hydra {installed('hydra-core')}, Python "
            f"{platform.python_version()})")
