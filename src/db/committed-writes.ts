import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory, SqlQuery, Transaction } from '@prisma/driver-adapter-utils'

// This process's own writes, seen where every statement Prisma sends passes: the driver adapter. A NOTIFY reaches
// this process's listening connection a moment after the writer's commit; a request that follows the write here
// must not find the cache from before it in that moment (log out, then the old token at once). So the statements
// that write the watched tables are reported once they are committed: at once outside a transaction, at the
// transaction's commit inside one.

const WRITE = /^\s*(?:INSERT|UPDATE|DELETE|MERGE|WITH)\b/i

export class CommittedWrites {
  readonly #watchers: Array<{ table: RegExp, onCommit: () => void }> = []

  /** `onCommit` runs after each committed statement that may have written one of `tables` (over-reporting is safe). */
  watch (tables: string[], onCommit: () => void): () => void {
    const watcher = { table: new RegExp(`\\b(?:${tables.join('|')})\\b`), onCommit }
    this.#watchers.push(watcher)
    return () => {
      const i = this.#watchers.indexOf(watcher)
      if (i >= 0) this.#watchers.splice(i, 1)
    }
  }

  #writers (sql: string): Array<() => void> {
    if (this.#watchers.length === 0 || !WRITE.test(sql)) return []
    return this.#watchers.filter((w) => w.table.test(sql)).map((w) => w.onCommit)
  }

  /** The factory Prisma is given: the same adapter, its statements and commits reported. */
  wrap (factory: SqlMigrationAwareDriverAdapterFactory): SqlMigrationAwareDriverAdapterFactory {
    return forward(factory, { connect: async () => this.#adapter(await factory.connect()) })
  }

  #adapter (adapter: SqlDriverAdapter): SqlDriverAdapter {
    const run = <T>(call: (q: SqlQuery) => Promise<T>) => async (q: SqlQuery): Promise<T> => {
      const result = await call(q)
      for (const fn of this.#writers(q.sql)) fn()
      return result
    }
    return forward(adapter, {
      queryRaw: run((q) => adapter.queryRaw(q)),
      executeRaw: run((q) => adapter.executeRaw(q)),
      startTransaction: async (isolationLevel) => this.#transaction(await adapter.startTransaction(isolationLevel))
    })
  }

  #transaction (tx: Transaction): Transaction {
    const pending = new Set<() => void>()
    const note = <T>(call: (q: SqlQuery) => Promise<T>) => async (q: SqlQuery): Promise<T> => {
      const result = await call(q)
      for (const fn of this.#writers(q.sql)) pending.add(fn)
      return result
    }
    return forward(tx, {
      queryRaw: note((q) => tx.queryRaw(q)),
      executeRaw: note((q) => tx.executeRaw(q)),
      commit: async () => {
        await tx.commit()
        for (const fn of pending) fn()
      }
    })
  }
}

/** `target` with some methods replaced; everything else read from it (methods bound to it: its private fields work). */
function forward<T extends object> (target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get (t, key) {
      if (Object.prototype.hasOwnProperty.call(overrides, key)) return overrides[key as keyof T]
      const value: unknown = Reflect.get(t, key, t)
      return typeof value === 'function' ? value.bind(t) : value
    }
  })
}
