"""One run: the pipeline and what goes with it (lock, schedule, alerts, feeds, etiquette)."""
