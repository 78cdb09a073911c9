// `npm run build`: the production build in dist/, esbuild bundles of the four programs (issue 26, item 3). A start
// then loads a handful of files instead of ≈ 700 modules (BENCHMARKS.md, "Start-up and memory"). The same paths as
// the former `tsc` output, so every command that names them stays true:
//
//   dist/src/server.js           npm start                 dist/src/admin/cli.js       npm run admin
//   dist/prisma/migrate.js       npm run migrate           dist/src/db/pglite-initdb.js  forked by a first PGlite start
//   dist/chunks/*.js             code they share, and what they load lazily (dynamic import(): PGlite's adapter, the
//                                AWS SDK vaults, the Gmail API, Prisma's query compiler) — loaded only when used
//   dist/pglite-template/        a migrated embedded database, copied by the built server's first start on an empty
//                                DATA_DIR instead of initdb in WASM (src/db/pglite-first-start.ts); kept from one
//                                build to the next while PGlite's version and the migrations are the same
//
// ESM with code splitting, so a dynamic import() stays a separate file and the PostgreSQL path never loads PGlite or
// AWS code. Source maps (`*.js.map`, no sources inlined) let stack traces name the TypeScript files: the programs
// turn them on (process.setSourceMapsEnabled) before loading the bundled code. Type checking is `npm run typecheck`.
//
// Left out of the bundle (EXTERNAL, resolved from node_modules at run time, so each is a runtime dependency in
// package.json): a native addon, and packages that read their own files beside their code at run time.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The entry points, relative to the repository (scripts/launch.mjs's staleness check covers them and this file). */
const ENTRY_POINTS = ['src/server.ts', 'src/admin/cli.ts', 'prisma/migrate.ts', 'src/db/pglite-initdb.ts']

const EXTERNAL = [
  // native binaries (.node) per platform
  '@node-rs/argon2',
  // PostgreSQL in WASM: pglite.wasm and pglite.data found beside its module (new URL(…, import.meta.url))
  '@electric-sql/pglite',
  // Prisma's schema engine: its .wasm read beside its JS glue (src/db/migrations.ts resolves both at run time)
  '@prisma/schema-engine-wasm',
  // node-postgres's optional native binding (never installed; pg requires it only when asked to)
  'pg-native'
]

// Source maps line by line for our code only: a package's file gets an input source map of one entry, so a stack
// frame inside a package names that package's file but at line 1 (its line is not kept). Maps of every line of the
// bundle were ≈ 5 MiB (≈ 0.8 MiB now) and Node parses the map of each module it loads once source maps are on:
// ≈ 70 ms of CPU per start on Node 20, ≈ 25 ms now (BENCHMARKS.md, "Start-up and memory").
const unmappedPackages = {
  name: 'unmapped-packages',
  setup (b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.(c|m)?js$/ }, async (args) => {
      const contents = await readFile(args.path, 'utf8')
      const map = Buffer.from(JSON.stringify({ version: 3, sources: [args.path], names: [], mappings: 'AAAA' })).toString('base64')
      return { contents: `${contents}\n//# sourceMappingURL=data:application/json;base64,${map}\n`, loader: 'js' }
    })
  }
}

const TEMPLATE = 'pglite-template'

export async function buildBundles ({ outdir = path.join(root, 'dist'), logLevel = 'warning' } = {}) {
  await mkdir(outdir, { recursive: true })
  for (const entry of await readdir(outdir)) {
    if (entry !== TEMPLATE) await rm(path.join(outdir, entry), { recursive: true, force: true })
  }
  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRY_POINTS,
    outdir,
    outbase: '.',
    entryNames: '[dir]/[name]',
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    sourcesContent: false,
    external: EXTERNAL,
    plugins: [unmappedPackages],
    // CommonJS packages inside an ESM bundle call require() for Node's modules: give them one.
    banner: { js: "import { createRequire as __inboxgateCreateRequire } from 'node:module'; const require = __inboxgateCreateRequire(import.meta.url);" },
    legalComments: 'none',
    metafile: true,
    logLevel
  })
  // The built initdb program makes (or keeps) the template: the same code and migrations a first start would run.
  // It says on stdout what it did (returned as `template`); a failure's message goes to stderr and throws here.
  const template = execFileSync(process.execPath, [path.join(outdir, 'src', 'db', 'pglite-initdb.js'), '--template', path.join(outdir, TEMPLATE)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8'
  }).trim()
  return { ...result, template }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now()
  const { metafile, template } = await buildBundles()
  process.stderr.write(`${template}\n`)
  const files = Object.keys(metafile.outputs).filter((f) => f.endsWith('.js'))
  const inputs = Object.keys(metafile.inputs).length
  process.stderr.write(`build: ${inputs} modules bundled into ${files.length} files in dist/ (${(performance.now() - started).toFixed(0)} ms)\n`)
}
