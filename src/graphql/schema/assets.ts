// Filled in by the assets module.
