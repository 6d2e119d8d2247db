"""Training: config, presets, schedules, noise, trainer, loop, tracking, row types."""
