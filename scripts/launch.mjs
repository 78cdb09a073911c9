// `npm start`, `npm run admin` and `npm run migrate`: the built bundles (scripts/build.mjs) when the build is current
// (a production install has no build tooling: `npm run build`, then `npm ci --omit=dev`), the TypeScript sources
// through tsx in a development checkout where the build is missing or older than what it is built from. Plain JavaScript, so it runs
// without tsx. The target runs in this process (no child): signals and the exit code are the target's own.
//
//   node scripts/launch.mjs <server|admin|migrate> [args…]
//
// npm start builds first when the build is stale (and esbuild is installed), so the server always runs the bundle
// whose start-up time docs/production.md gives; a current build is not built again.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const TARGETS = {
  server: { built: 'dist/src/server.js', source: 'src/server.ts', buildFirst: true },
  admin: { built: 'dist/src/admin/cli.js', source: 'src/admin/cli.ts', buildFirst: false },
  migrate: { built: 'dist/prisma/migrate.js', source: 'prisma/migrate.ts', buildFirst: false }
}

/**
 * The newest modification time among the files the bundles are built from: src, prisma/migrate.ts, the build script
 * and its tsconfig, and the installed packages bundled with them (through package-lock.json: an install that changes
 * them changes the lock file). The generated Prisma client counts through its source, schema.prisma: an install
 * regenerates it (postinstall, also in a production install, where @prisma/client brings the Prisma CLI along as a
 * peer) with fresh mtimes but the same content, which must not make a current build look stale.
 */
const SOURCES = ['src', 'prisma/migrate.ts', 'prisma/schema.prisma', 'scripts/build.mjs', 'tsconfig.json', 'package.json', 'package-lock.json']

function newestSource () {
  let newest = 0
  const generated = path.join(root, 'src', 'generated', 'prisma')
  const visit = (p) => {
    if (p === generated) return
    const st = statSync(p, { throwIfNoEntry: false })
    if (st == null) return
    if (st.isDirectory()) for (const entry of readdirSync(p)) visit(path.join(p, entry))
    else if (/\.(ts|js|mts|cjs|json|prisma)$/.test(p)) newest = Math.max(newest, st.mtimeMs)
  }
  for (const p of SOURCES) visit(path.join(root, p))
  return newest
}

function resolves (specifier) {
  try {
    createRequire(path.join(root, 'package.json')).resolve(specifier)
    return true
  } catch {
    return false
  }
}

function fail (message) {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

const name = process.argv[2]
const target = TARGETS[name]
if (target == null) fail(`usage: node scripts/launch.mjs <${Object.keys(TARGETS).join('|')}> [args…]`)
// The target reads its arguments from process.argv.slice(2), as when run as `node <file> args…`.
process.argv.splice(2, 1)

const built = path.join(root, target.built)
const builtAt = statSync(built, { throwIfNoEntry: false })?.mtimeMs
const current = builtAt != null && builtAt >= newestSource()
const hasEsbuild = resolves('esbuild')
const hasTsx = resolves('tsx/esm/api')

let entry = built
if (!current && target.buildFirst && hasEsbuild) {
  process.stderr.write(builtAt == null ? 'No build yet: compiling (npm run build)…\n' : 'The sources changed since the last build: compiling (npm run build)…\n')
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' })
  if (build.status !== 0) fail('npm start: the build failed (see above)')
} else if (!current && hasTsx) {
  const { register } = await import('tsx/esm/api')
  register()
  entry = path.join(root, target.source)
} else if (builtAt == null) {
  fail(`${target.built} is missing and neither esbuild nor tsx is installed: run \`npm run build\` before \`npm ci --omit=dev\` (docs/production.md)`)
} else if (!current) {
  process.stderr.write(`warning: ${target.built} is older than the sources, and nothing here can compile them; running it anyway\n`)
}
// Stack traces name the TypeScript sources of the bundle through its source maps (for the modules loaded from here on).
if (entry === built) process.setSourceMapsEnabled(true)
await import(pathToFileURL(entry).href)
