// onair's import rules, checked by test/architecture.test.ts (in `npm test`) and
// by `npm run check:architecture`. Paths are relative to the folder depcruise runs in.

/** GraphQL server libraries: the API layer's business, never the domain's. */
const GRAPHQL_LIBRARIES =
  '(^|/)node_modules/(graphql|graphql-yoga|graphql-ws|@graphql-yoga/[^/]+|@pothos/[^/]+|@envelop/[^/]+|@escape\\.tech/graphql-armor|@graphql-tools/[^/]+)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'An import cycle in src (type-only imports count): modules load in an order that depends on who imports first.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'api-layer-on-top',
      comment:
        'src/graphql and src/server (the API) are imported by nothing below them: domain, services, auth and workers ' +
        'work without a GraphQL request (the domain takes a DomainContext, src/domain/shared/context.ts).',
      severity: 'error',
      from: { path: '^src/(domain|services|auth|worker)/' },
      to: { path: '^src/(graphql|server)/' },
    },
    {
      name: 'domain-without-graphql-libraries',
      comment: 'Domain rules do not depend on the API technology (connections, resolvers, plugins are built in src/graphql).',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: GRAPHQL_LIBRARIES },
    },
    {
      name: 'sidecar-apart',
      comment:
        'The sidecar runs apart from the control plane (its own process or container): it imports only ' +
        'src/sidecar, src/protocol, src/schedule (the pure planner both sides share), node builtins and npm packages.',
      severity: 'error',
      from: { path: '^src/sidecar/' },
      to: { path: '^src/', pathNot: '^src/(sidecar|protocol|schedule)/' },
    },
    {
      name: 'schedule-pure',
      comment:
        'src/schedule (the schedule planner) is pure and shared by the control plane and the sidecar: it imports only ' +
        'itself, src/protocol and zod (no I/O, no node builtin), and reads no clock (time is passed in).',
      severity: 'error',
      from: { path: '^src/schedule/' },
      to: { pathNot: ['^src/(schedule|protocol)/', '(^|/)node_modules/zod/'] },
    },
    {
      name: 'protocol-zod-only',
      comment: 'src/protocol (the API ⇄ sidecar wire types) is shared by both sides: it imports only itself and zod.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { pathNot: ['^src/protocol/', '(^|/)node_modules/zod/'] },
    },
    {
      name: 'production-dependencies',
      comment:
        "What src imports at run time is in package.json's dependencies: the image installs those alone " +
        '(npm prune --omit=dev), so a devDependency imported by src fails only there. Type-only imports are erased.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'console-on-the-api',
      comment:
        'The operator console (console/src) runs in a browser and talks to onair through its public GraphQL API only: ' +
        'of onair it imports only the pure src/schedule and src/protocol, and no Node builtin.',
      severity: 'error',
      from: { path: '^console/src/' },
      to: { path: '^src/', pathNot: '^src/(schedule|protocol)/' },
    },
    {
      name: 'console-on-the-api',
      comment: 'The operator console runs in a browser: no Node builtin.',
      severity: 'error',
      from: { path: '^console/src/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'resolvable',
      comment: 'Every import in src resolves to a file or a package (no path alias the runtime cannot follow).',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // `import type` counts: a type-only cycle is still a cycle to a reader.
    tsPreCompilationDeps: true,
    doNotFollow: { path: ['node_modules', '^prisma/generated/'] },
    exclude: { path: '^prisma/generated/' },
    // Packages' `exports` maps, as Node resolves them (graphql-ws/use/ws, for one).
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
