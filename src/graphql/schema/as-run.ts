// Placeholder until the as-run module lands.
export {};
