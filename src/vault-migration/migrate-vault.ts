import type { GmailConnections } from '../gmail/gmail-connections.ts'
import { AppError } from '../errors.ts'
import { MigratingTokenVault } from '../vault/migrating-token-vault.ts'
import type { GmailTokenBundle, TokenVault } from '../vault/index.ts'

export interface MigrationReport {
  from: string
  to: string
  /** Users the source vault lists (records naming no user are counted in `unidentified` and left alone). */
  listed: number
  unidentified: number
  /** Copied to the new vault and read back identical. */
  copied: number
  /** Already in the new vault (an earlier run, or a server's refresh or connect since the switch): kept as is. */
  alreadyPresent: number
  /** Gone from the source since the listing (a disconnect): nothing to copy. */
  vanished: number
  /** --delete-source: source copies removed, each only after the new vault's copy read back. */
  sourceDeleted: number
  failed: number
  /** Only the users that failed, by user id, with the error code. Never a token. */
  failures: Record<string, string>
}

export interface MigrateVaultOptions {
  deleteSource: boolean
  onProgress?: (done: number, total: number, report: MigrationReport) => void
}

/**
 * `npm run admin -- migrate-vault --to <kind> [--delete-source]`, while servers run with TOKEN_VAULT=<kind> and
 * TOKEN_VAULT_PREVIOUS=<source>: copies each user's grant under that user's grant lock (the one every refresh,
 * connect and disconnect takes), so nothing interleaves with a copy. Idempotent: a grant already in the new vault
 * is never overwritten (it is at least as new as the source's), so a second run copies nothing and a run killed
 * half-way resumes where it stopped. Without --delete-source the source is left exactly as it was.
 */
export async function migrateVault (vault: TokenVault, gmail: Pick<GmailConnections, 'withGrantLock'>, options: MigrateVaultOptions): Promise<MigrationReport> {
  if (!(vault instanceof MigratingTokenVault)) throw new TypeError('migrate-vault needs TOKEN_VAULT_PREVIOUS')
  const { current, previous } = vault
  const listing = await previous.list()
  const report: MigrationReport = {
    from: previous.kind,
    to: current.kind,
    listed: listing.userIds.length,
    unidentified: listing.unidentified,
    copied: 0,
    alreadyPresent: 0,
    vanished: 0,
    sourceDeleted: 0,
    failed: 0,
    failures: {}
  }
  let done = 0
  // One user at a time, each holding only its own lock: servers keep serving everyone else meanwhile.
  for (const userId of listing.userIds) {
    try {
      const outcome = await gmail.withGrantLock(userId, null, async () => {
        let outcome: 'copied' | 'alreadyPresent' | 'vanished' = 'alreadyPresent'
        if (await current.get(userId) == null) {
          const source = await previous.get(userId)
          if (source == null) return 'vanished'
          await current.put(userId, source)
          if (!sameBundle(await current.get(userId), source)) throw new Error('the copy did not read back identical')
          outcome = 'copied'
        }
        // Reached only once the new vault holds a readable grant for this user (read above, under the lock).
        if (options.deleteSource) await previous.delete(userId)
        return outcome
      })
      report[outcome]++
      if (options.deleteSource && outcome !== 'vanished') report.sourceDeleted++
    } catch (err) {
      report.failed++
      report.failures[userId] = err instanceof AppError ? err.code : 'INTERNAL'
    }
    options.onProgress?.(++done, listing.userIds.length, report)
  }
  return report
}

function sameBundle (a: GmailTokenBundle | null, b: GmailTokenBundle): boolean {
  return a != null && JSON.stringify(a) === JSON.stringify(b)
}
