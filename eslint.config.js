// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const CAPABILITIES = ['users', 'groups', 'events', 'webhooks', 'imports', 'auth', 'scim'];
/** The files of a capability that are adapters: SQL stores and writers, the HTTP client, the exporter's SQL. */
const ADAPTERS = CAPABILITIES.flatMap((c) => [
  `src/${c}/**/sql-*.ts`,
  `src/${c}/**/sqlite-*.ts`,
  `src/${c}/**/*-writer.ts`,
  `src/${c}/**/writers.ts`,
  `src/${c}/**/http-client.ts`,
  `src/${c}/export/export.ts`,
]);
const NO_MIGRATION_CONSTANTS = [
  { regex: '(^|/)migrations/', message: 'Nothing imports from a migration; only db/migrator.ts loads them.' },
];

export default tseslint.config(
  // test/client compiles only against a client generated in test/http/contract.api.test.ts, which type-checks it.
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'scripts/**', 'test/client/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A dropped promise is an unhandled rejection waiting to happen.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' }] },
      ],
      // Fastify plugins and interface implementations are async by contract, awaited or not.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  // Boundaries (ARCHITECTURE.md, "Dependencies point one way"). A capability's business code
  // speaks to its ports, never to HTTP or a database driver; only its adapters do.
  {
    files: CAPABILITIES.map((c) => `src/${c}/**/*.ts`),
    ignores: ADAPTERS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['kysely', 'pg', 'better-sqlite3', 'pg-copy-streams', 'fastify', 'undici', 'ioredis'].map((name) => ({
            name,
            message:
              'Business code talks to its ports; only adapters (sql-*.ts, sqlite-*.ts, *-writer.ts, http-client.ts) use drivers and frameworks.',
          })),
          patterns: [
            { regex: '^(\\.\\./)+http/', message: 'Business code never imports the HTTP edge; errors are mapped there, once.' },
            {
              regex: '^(\\.\\./)+db/database(\\.js)?$',
              message: 'Business code never opens databases; the composition root (src/compose.ts) does.',
            },
            ...NO_MIGRATION_CONSTANTS,
          ],
        },
      ],
    },
  },
  // An adapter may use its own capability's adapters, never another capability's. The one
  // exception is the outbox (events/sql-outbox.ts): a change's event must be written in the
  // change's own transaction, so every writing adapter appends through it.
  {
    files: ADAPTERS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${CAPABILITIES.join('|')})/(.*/)?(sql-(?!outbox)[^/]*|sqlite-[^/]*|[^/]*-writer|http-client)(\\.js)?$`,
              message: "One capability's adapter never imports another's; share through a port or the outbox.",
            },
            ...NO_MIGRATION_CONSTANTS,
          ],
        },
      ],
    },
  },
  // Migrations are frozen history: nothing may depend on a value defined in one.
  {
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/db/migrator.ts', 'src/db/migrations/**', ...CAPABILITIES.map((c) => `src/${c}/**/*.ts`)],
    rules: { 'no-restricted-imports': ['error', { patterns: NO_MIGRATION_CONSTANTS }] },
  },
  // After the migrations rule: a file's last matching block sets the rule, so this one keeps both.
  // Config is read before any capability exists; it imports none of them.
  {
    files: ['src/config.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^\\./(${CAPABILITIES.join('|')}|http|db)/`,
              message: 'config.ts imports no capability; parse into kit/ types and let src/compose/ hand each capability its section.',
            },
            ...NO_MIGRATION_CONSTANTS,
          ],
        },
      ],
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
);
