"""`python -m tftrain ...`: the same as the `tftrain` command."""

from tftrain.cli import main

main()
