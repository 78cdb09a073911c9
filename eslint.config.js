// Lint: neostandard (standard style on ESLint 9's flat config, typescript-eslint for the .ts files).
// `npm run lint` lints the whole repository (src, test, scripts, bench, prisma, examples, emulators, …),
// except generated code and build output, listed in `ignores`.
import neostandard, { plugins } from 'neostandard'

const tseslint = plugins['typescript-eslint']

export default [
  ...neostandard({
    ts: true,
    ignores: [
      '**/node_modules/**',
      'dist/**',
      'coverage/**',
      '.tap/**',
      'data/**',
      // written by `npm run codegen` and `prisma generate`; CI regenerates them and fails on a diff instead
      'src/generated/**',
      'examples/web/src/generated/**',
      'test/support/generated/**',
      // `npm run build:web` output
      'examples/web/dist/**'
    ]
  }),
  {
    name: 'inboxgate/typescript-style',
    rules: {
      // `void promise` as a statement is how this TypeScript code marks a promise it deliberately does not
      // await (a signal handler's cleanup, a click handler): the form typescript-eslint's no-floating-promises
      // accepts, and what the TypeScript flavour of standard (eslint-config-love) allows.
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    // Type-aware rules: a promise nobody awaits loses its rejection (an unhandled rejection ends the process on
    // Node ≥ 15) and its ordering; a promise passed where a callback's result is ignored does the same. Types come
    // from the two programs `npm run typecheck` builds (the root tsconfig.json covers src, tests, emulators,
    // scripts, bench, prisma and the worker example; the web example has its own, with the DOM). Listing them,
    // rather than letting the project service open every nearest tsconfig.json, keeps to two programs: the
    // emulator's own tsconfig.json would load src/ a second time, past Node's default heap.
    name: 'inboxgate/type-aware',
    files: ['**/*.ts', '**/*.tsx'],
    // the web example's build and serve scripts belong to no tsconfig (typecheck does not cover them either)
    ignores: ['examples/web/*.ts'],
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './examples/web/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname
      }
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // tap's `test()`/`t.test()` return a promise tap itself tracks and awaits (a subtest queued on its
        // parent): the documented way to write a tap test file, not a lost promise.
        allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }]
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error'
    }
  }
]
