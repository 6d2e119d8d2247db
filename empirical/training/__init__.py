"""Training: configuration, presets, schedules, noise, the trainer, the loop, tracking, row types."""
