"""Model architectures (one per module); importing this package builds and loads nothing."""
