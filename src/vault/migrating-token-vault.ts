import type { GmailTokenBundle, TokenVault, TokenVaultStats, VaultListing } from './token-vault.ts'

type ClosableVault = TokenVault & { close (): Promise<void> }

/**
 * TOKEN_VAULT with TOKEN_VAULT_PREVIOUS set: the servers' view of a migration between vaults (`npm run admin --
 * migrate-vault`). Reads the new vault first and falls back to the old one; writes go to the new vault only, so a
 * refresh racing the copy lands where the copy would have (and migrate-vault, under the same grant lock, then finds
 * it there and keeps it); deletes go to both, so a disconnect during the migration cannot be undone by the
 * fallback. A failure of the new vault is never answered from the old one: that copy may be an older grant.
 */
export class MigratingTokenVault implements TokenVault {
  constructor (readonly current: ClosableVault, readonly previous: ClosableVault) {}

  get kind () {
    return this.current.kind
  }

  async get (userId: string): Promise<GmailTokenBundle | null> {
    return await this.current.get(userId) ?? await this.previous.get(userId)
  }

  async put (userId: string, bundle: GmailTokenBundle): Promise<void> {
    await this.current.put(userId, bundle)
  }

  async delete (userId: string): Promise<void> {
    await this.current.delete(userId)
    await this.previous.delete(userId)
  }

  async list (): Promise<VaultListing> {
    const [a, b] = [await this.current.list(), await this.previous.list()]
    return { userIds: [...new Set([...a.userIds, ...b.userIds])].sort(), unidentified: a.unidentified + b.unidentified }
  }

  /** Both vaults' calls together (what /metrics reports during a migration). */
  stats (): TokenVaultStats {
    const a = this.current.stats()
    const b = this.previous.stats()
    return { reads: a.reads + b.reads, writes: a.writes + b.writes, deletes: a.deletes + b.deletes, errors: a.errors + b.errors }
  }

  async checkReachable (): Promise<void> {
    await Promise.all([this.current.checkReachable(), this.previous.checkReachable()])
  }

  get checkKms (): (() => Promise<void>) | undefined {
    const kms = [this.current, this.previous].filter((v) => v.checkKms != null)
    return kms.length === 0 ? undefined : async () => { for (const v of kms) await v.checkKms?.() }
  }

  async close (): Promise<void> {
    await Promise.all([this.current.close(), this.previous.close()])
  }
}
