// npm's postinstall: generate the Prisma client (src/generated/prisma) where the Prisma CLI is installed. An install
// without it (the CLI is a devDependency; today @prisma/client still pulls it in as a peer) must not fail: dist/
// already holds the compiled client, built before the install (docs/production.md).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

let cli
try {
  cli = createRequire(import.meta.url).resolve('prisma/build/index.js')
} catch {
  process.stderr.write('postinstall: the Prisma CLI is not installed (production install): using the client compiled into dist/\n')
  process.exit(0)
}
const result = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit' })
process.exit(result.status ?? 1)
