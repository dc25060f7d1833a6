"""Training: configuration, the loop, schedules, EMA teacher, streams and run files."""
