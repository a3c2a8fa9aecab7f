/**
 * Layering of src/ (docs/architecture.md, "Layers"). A module may import from its own directory
 * and from any LOWER layer; never from a higher layer or from another directory of its own layer.
 * Keep this list and the table in docs/architecture.md the same.
 */
const LAYERS = [
  ['util', 'defaults.ts'],
  ['workload'],
  ['engine'],
  ['profiles'],
  ['metrics', 'routing'],
  ['sim', 'serve', 'mock', 'replay', 'report'],
  ['calibration', 'tui', 'sweep'],
  ['plan'],
  ['cli'],
];

const re = (names) => `^src/(${names.map((n) => n.replace('.', '[.]')).join('|')})(/|$)`;

const layerRules = LAYERS.map((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  return layer.map((dir) => {
    const peers = layer.filter((d) => d !== dir);
    const banned = [...above, ...peers];
    return banned.length === 0
      ? null
      : {
          name: `layer-${dir.replace('.ts', '')}`,
          comment: `src/${dir} is layer ${i}: it may import only from lower layers (${LAYERS.slice(0, i).flat().join(', ') || 'none'}) and its own directory`,
          severity: 'error',
          from: { path: re([dir]) },
          to: { path: re(banned) },
        };
  });
}).flat().filter((r) => r !== null);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles in src/ (type-only imports count: they couple the modules the same way)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'layer-unlisted',
      comment: 'Every directory of src/ has a layer: add a new one to LAYERS here and to docs/architecture.md',
      severity: 'error',
      from: { path: '^src/', pathNot: re(LAYERS.flat()) },
      to: {},
    },
    {
      name: 'src-not-to-tests-or-tools',
      comment: 'Shipped code never imports tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'src-not-to-dev-deps',
      comment: 'Shipped code imports only runtime dependencies (package.json "dependencies")',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    // Type-only imports count as dependencies: a cycle through types is still a cycle.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.tsx', '.js', '.d.ts'] },
  },
};
