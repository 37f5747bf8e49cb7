// npm run bench: the as-run log under load. See bench/README.md.
//
// Libraries read NODE_ENV once, when first imported (graphql-js, for one, runs a
// costly multi-realm check in every instanceOf outside production), so it is
// set before anything else loads: the benchmark measures a production server.
process.env.NODE_ENV ??= 'production';
await import('./run.ts');
