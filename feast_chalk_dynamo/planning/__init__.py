"""Item sizes, read and write units, and what a workload costs (for the CLI and migrate)."""
