"""What a multirun adds to single runs: failure isolation, reports, the Optuna trial and study."""
