"""The config boundary: composing, checking and instantiating configs."""
