// Lint: neostandard (standard style on ESLint 9's flat config, typescript-eslint for the .ts files).
// `npm run lint` lints the whole repository (src, test, scripts, bench, prisma, examples, emulators, …),
// except generated code and build output, listed in `ignores`.
import neostandard from 'neostandard'

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
  }
]
