// Filled in by the as-run module.
