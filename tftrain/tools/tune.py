"""`tftrain-tune lr|batch OVERRIDES...`: what to set before a long run, found by training
the run `tftrain OVERRIDES` would start for a little while (tftrain.tools.lr_find,
tftrain.tools.batch_find). Nothing is written into a run folder; the finders print the
override to paste into the run's command line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from tftrain.config.compose import command_overrides
from tftrain.config.sources import source_of, used
from tftrain.errors import TftrainError, did_you_mean
from tftrain.fast_exit import exits_fast
from tftrain.tools.shell import shell

USAGE = """Usage: tftrain-tune lr|batch [OPTIONS] [OVERRIDES...]

Train the run `tftrain OVERRIDES` would start (its model, data, precision, strategy and
trainer) for a little while, and print the override to paste into its command line.

  tftrain-tune lr OVERRIDES      the learning rate: a range test ramping the rate
                                 exponentially (schedules off), the loss smoothed, stopped
                                 when it diverges; two rules read the curve (steepest
                                 descent, fastai's valley). Writes lr_find.png and
                                 lr_find.csv to outputs/lr_find/DATE/TIME (output=DIR).
      steps=300 start=1e-7 end=10 output=DIR
  tftrain-tune batch OVERRIDES   the batch size: samples/s at powers of two after a warm-up,
                                 the smallest batch within 5% of the best, capped by memory
                                 and by 50 steps an epoch; with the learning rate rescaled
                                 for it (linear for SGD, square root otherwise).

Examples:
  tftrain-tune lr experiment=digits_cnn_custom_loop
  tftrain-tune batch dataset=csv dataset.path=housing.csv dataset.label=median_house_value"""

# each finder's own arguments: their parsers (None: a folder path) and defaults
OWN: dict[str, dict[str, tuple[Callable[[str], Any] | None, Any]]] = {
    "lr": {"steps": (int, 300), "start": (float, 1e-7), "end": (float, 10.0),
           "output": (None, None)},
    "batch": {},
}
SAY = {int: "a whole number", float: "a number", None: "a folder path"}


def own_arguments(finder: str, args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """(the run's overrides and config flags, the finder's own arguments with defaults)."""
    known = OWN[finder]
    asked = {name: default for name, (_, default) in known.items()}
    rest = []
    for arg in args:
        key, equals, value = arg.partition("=")
        if not equals or key not in known:
            rest.append(arg)
            continue
        parse = known[key][0]
        try:
            asked[key] = parse(value) if parse else Path(value).expanduser()
        except ValueError:
            asked[key] = None
        if not value or asked[key] is None:
            raise TftrainError(f"{arg}: {key}= takes {SAY[parse]} (tftrain-tune {finder} "
                               f"{key}={known[key][1] or 'DIR'}).")
    if finder == "lr":
        check_ramp(asked)
    return rest, asked


def check_ramp(asked: dict[str, Any]) -> None:
    """A ramp that can be read: rising, above zero, with room for the rules' steps."""
    steps, start, end = asked["steps"], asked["start"], asked["end"]
    if not 0 < start < end:
        raise TftrainError(f"start={start:g} end={end:g}: the rate ramps up from start to end, "
                           "both above 0 (tftrain-tune lr start=1e-7 end=10, the default).")
    if steps < 50:
        raise TftrainError(f"steps={steps}: a ramp needs 50 steps or more for a curve that can "
                           "be read (300, the default, as fastai's and Lightning's 100 to 300).")


def tune(finder: str, args: list[str]) -> None:
    """One finder on the run its overrides compose (`--config-dir` and co. as `tftrain`)."""
    if finder not in OWN:
        raise TftrainError(f"'{finder}' is no tftrain-tune subcommand: give lr (the learning "
                           f"rate) or batch (the batch size) first, then the run's overrides "
                           f"(tftrain-tune lr model=cnn).{did_you_mean(finder, OWN)}")
    rest, asked = own_arguments(finder, args)
    overrides, multirun = command_overrides(rest)
    if multirun:
        raise TftrainError(f"-m: tftrain-tune {finder} tunes one run; give the overrides of one "
                           "run (no -m, one value per key).")
    with used(source_of(rest)):
        if finder == "lr":
            from tftrain.tools import lr_find

            lr_find.find(overrides, rest, asked["steps"], asked["start"], asked["end"],
                         asked["output"])
        else:
            from tftrain.tools import batch_find

            batch_find.find(overrides)


def command(args: list[str]) -> int:
    """`tftrain-tune ARGS` in this process; its exit status."""
    if not args or {"-h", "--help"} & set(args):
        print(USAGE)
        return 0 if args else 2
    return shell(lambda: tune(args[0], args[1:]))


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
