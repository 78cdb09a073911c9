// `npm run migrate -- <deploy|create <name>|check>`: Prisma migrations through the WASM schema engine,
// as the native one cannot be downloaded here. Same layout and `_prisma_migrations` table as `prisma migrate`.
import path from 'node:path'
import { parseEnv } from '../src/config.ts'
import { applyMigrations, checkDrift, createMigration } from '../src/db/migrations.ts'
import type { MigrationLogger } from '../src/db/migrations.ts'
import { openDatabase } from '../src/db/prisma.ts'

const usage = `Usage: npm run migrate -- <command>
  deploy         apply pending migrations to DATABASE_URL (postgres:// or postgresql://),
                 or else to the PGlite database in $DATA_DIR/pglite (DATA_DIR defaults to ./data),
                 which only one process may open at a time: stop the server first
  create <name>  write prisma/migrations/<timestamp>_<name>/migration.sql from schema.prisma
  check          exit 1 and print the SQL when the migrations and schema.prisma differ`

const logger: MigrationLogger = { info: (message) => console.log(message) }

async function deploy (): Promise<number> {
  // The same variables, validation and database selection as the server (src/config.ts, src/db/prisma.ts).
  const { DATABASE_URL, DATA_DIR } = parseEnv(process.env)
  if (DATABASE_URL === 'memory://') throw new Error('DATABASE_URL=memory:// is a throwaway database: nothing to deploy to')
  const where = DATABASE_URL == null ? `PGlite at ${path.resolve(DATA_DIR, 'pglite')}` : `PostgreSQL at ${new URL(DATABASE_URL).host}`
  console.log(`Deploying migrations to ${where}`)
  const db = await openDatabase(DATABASE_URL, DATA_DIR, 1)
  try {
    report(await applyMigrations(db.migrationAdapter(), { logger }))
  } finally {
    await db.close()
  }
  return 0
}

function report (applied: string[]): void {
  console.log(applied.length === 0 ? 'No pending migrations.' : `Applied ${applied.length} migration(s).`)
}

async function create (name: string | undefined): Promise<number> {
  if (name === undefined) {
    console.error(usage)
    return 1
  }
  const file = await createMigration(name, { logger })
  if (file === null) console.log('schema.prisma matches the migrations: nothing to create.')
  return 0
}

async function check (): Promise<number> {
  const drift = await checkDrift()
  if (drift === null) {
    console.log('The migrations match schema.prisma.')
    return 0
  }
  console.error('schema.prisma differs from prisma/migrations; run `npm run migrate -- create <name>`. Missing SQL:\n')
  console.error(drift)
  return 1
}

async function main (args: string[]): Promise<number> {
  switch (args[0]) {
    case 'deploy': return deploy()
    case 'create': return create(args[1])
    case 'check': return check()
    default:
      console.error(usage)
      return 1
  }
}

// Exit explicitly: PGlite and the schema engine leave timers (~10 s) that would hold the process.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`migrate: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
