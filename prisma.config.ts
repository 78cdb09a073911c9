import path from 'node:path'
import { defineConfig } from 'prisma/config'

// Loaded by the Prisma CLI before it looks for its native schema engine. Naming an existing file
// here stops the CLI from downloading the engine (no route to Prisma's binary host); `generate`
// never executes it. Migrations go through prisma/migrate.ts (the WASM engine) instead.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.resolve('prisma/schema-engine-unavailable.cjs')
process.env.CHECKPOINT_DISABLE ??= '1'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' }
})
