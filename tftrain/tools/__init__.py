"""What uses a finished run: tftrain-eval, tftrain-predict, tftrain-report."""
