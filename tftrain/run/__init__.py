"""One run: prepare, train, evaluate, write the run folder; resume, signals, the folder lock."""
