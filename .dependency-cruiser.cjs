// The module arrows of DESIGN §1, held in CI (`npm run lint:deps`, part of `npm test`). All errors,
// no baseline. `scripts/architecture.ts` runs this, adds the folder-level cycle check and keeps the
// Mermaid graph in docs/architecture.md fresh.
const INFRASTRUCTURE = '^src/(common|config|database|redis|queues|logging|auth|metrics|health)/';
const FEATURES =
  '^src/(wallet|notifications|users|onboarding|loans|mpesa|sync|ussd|simulator|simulators|local-services)/';
const SIMULATOR_CODE = '^src/(simulator|simulators)/|^src/[^/]+/simulator/';
/** What only the channels and development tools may import. */
const ABOVE_LOANS = ['ussd', 'sync', 'mpesa', 'simulator', 'simulators'];

/** An arrow of the design: `module` never imports any of `never`. */
function below(name, module, never) {
  return { name, severity: 'error', from: { path: `^src/${module}/` }, to: { path: `^src/(${never.join('|')})/` } };
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'No file leads back to itself (folder-level cycles: scripts/architecture.ts)',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'infrastructure-knows-no-feature',
      severity: 'error',
      from: { path: INFRASTRUCTURE },
      to: { path: FEATURES },
    },
    below('wallet-at-the-bottom', 'wallet', ['users', 'notifications', 'onboarding', ...ABOVE_LOANS, 'loans']),
    below('notifications-is-a-sink', 'notifications', ['users', 'wallet', 'onboarding', 'loans', ...ABOVE_LOANS]),
    {
      ...below('users-stays-low', 'users', ['wallet', 'onboarding', 'loans', ...ABOVE_LOANS, 'notifications']),
      comment: 'notifications only through its service',
      to: {
        path: `^src/(${['wallet', 'onboarding', 'loans', ...ABOVE_LOANS, 'notifications'].join('|')})/`,
        pathNot: '^src/notifications/(notifications\\.(service|module)|templates)\\.ts$',
      },
    },
    below('onboarding-below-the-channels', 'onboarding', ['loans', ...ABOVE_LOANS]),
    below('loans-below-the-channels', 'loans', ABOVE_LOANS),
    below('mpesa-below-the-channels', 'mpesa', ['ussd', 'sync']),
    below('sync-below-ussd', 'sync', ['ussd']),
    {
      name: 'no-simulator-in-production',
      comment:
        'Only the simulators themselves and the composition root (which loads the phone page outside production)',
      severity: 'error',
      from: { pathNot: [SIMULATOR_CODE, '^src/app\\.(module|factory)\\.ts$'] },
      to: { path: SIMULATOR_CODE },
    },
    {
      name: 'the-core-knows-no-transport',
      comment: 'Services and entities of wallet, loans and users; their controllers may stay in their module',
      severity: 'error',
      from: { path: '^src/(wallet|loans|users)/.*\\.(service|entity)\\.ts$' },
      to: {
        path: [
          '^src/(ussd|mpesa)/',
          '\\.(controller|dto|guard)\\.ts$',
          '/dto/',
          '(^|/)node_modules/(fastify|@fastify|@nestjs/platform-fastify)/',
        ],
      },
    },
    {
      name: 'controllers-are-not-shared',
      severity: 'error',
      from: { pathNot: '\\.module\\.ts$' },
      to: { path: '\\.controller\\.ts$' },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.spec\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
