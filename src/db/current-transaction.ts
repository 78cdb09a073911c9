import { AsyncLocalStorage } from 'node:async_hooks'
import type { Prisma } from '../generated/prisma/client.ts'

/**
 * The transaction a caller further up is running in, for a store that keeps its rows in the same database but is
 * reached through an interface that knows nothing of transactions (the KMS vault behind TokenVault). Two reasons:
 * on PGlite (one connection) a query outside an open transaction waits for that transaction to end, so a vault
 * query made inside the grant lock would wait for itself; and on PostgreSQL the vault write then commits or rolls
 * back with the row's compare-and-swap instead of beside it.
 */
const storage = new AsyncLocalStorage<Prisma.TransactionClient>()

export function runInTransaction<T> (tx: Prisma.TransactionClient, work: () => Promise<T>): Promise<T> {
  return storage.run(tx, work)
}

/** The transaction of the caller, or undefined outside one. */
export function currentTransaction (): Prisma.TransactionClient | undefined {
  return storage.getStore()
}
