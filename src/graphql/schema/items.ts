// Filled in by the items module.
