import { PGlite } from '@electric-sql/pglite'
import type { SqlDriverAdapter } from '@prisma/driver-adapter-utils'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { adapterErrorTranslator } from './prisma-internals.ts'

// pglite-prisma-adapter 0.7.2's executeScript calls `client.exec(script)` without awaiting it, so a
// migration whose SQL fails resolves anyway and the schema engine records it as applied. This factory
// is a drop-in for `new PrismaPGlite(pglite)` whose adapters await the script.
export class PGliteAdapterFactory extends PrismaPGlite {
  readonly #db: PGlite

  constructor (db: PGlite) {
    super(db)
    this.#db = db
  }

  override async connect (): Promise<SqlDriverAdapter> {
    return awaitScripts(await super.connect(), this.#db)
  }

  // The parent opens a `memory://shadow` PGlite that nobody closes; this one is closed on dispose.
  override async connectToShadowDb (): Promise<SqlDriverAdapter> {
    const shadow = await PGlite.create()
    const adapter = awaitScripts(await new PrismaPGlite(shadow).connect(), shadow)
    adapter.dispose = async () => { await shadow.close() }
    return adapter
  }
}

function awaitScripts (adapter: SqlDriverAdapter, db: PGlite): SqlDriverAdapter {
  // The adapter's own translation of PGlite errors into Prisma's DriverAdapterError.
  const translate = adapterErrorTranslator(adapter)
  adapter.executeScript = async (script) => {
    try {
      await db.exec(script)
    } catch (error) {
      translate(error)
    }
  }
  return adapter
}
