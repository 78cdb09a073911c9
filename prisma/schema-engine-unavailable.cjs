#!/usr/bin/env node
// Stand-in for Prisma's native schema engine, which the CLI would otherwise download from
// binaries.prisma.sh on every call (unreachable here). `prisma generate` never runs the engine,
// so this is only reached by `prisma migrate|db|validate|format`: use `npm run migrate` instead,
// which drives Prisma's own schema engine compiled to WASM (prisma/migrate.ts).
process.stderr.write(
  'inboxgate: the native Prisma schema engine is not installed; use `npm run migrate -- <deploy|create|check>`\n'
)
process.exit(1)
