import path from 'node:path'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { LocalTokenVault, loadOrCreateLocalVaultKey } from './local-token-vault.ts'
import { MigratingTokenVault } from './migrating-token-vault.ts'
import { DEFAULT_SECRET_PREFIX } from './token-vault.ts'
import type { TokenVault } from './token-vault.ts'

export type { GmailTokenBundle, TokenVault, TokenVaultStats } from './token-vault.ts'
// The AWS vaults (and the AWS SDK, ≈0.2 s to load) are imported from './aws-secrets-manager-vault.ts' and
// './kms-envelope-vault.ts' by whoever needs them, and here only for TOKEN_VAULT=aws or kms: a local-vault start
// never loads them.

export type VaultKind = 'aws' | 'local' | 'kms'

export interface TokenVaultConfig {
  kind: VaultKind
  /** TOKEN_VAULT_PREVIOUS: the vault a migration moves grants from (read as a fallback, deleted from). */
  previous?: VaultKind | undefined
  prefix?: string
  /** TOKEN_VAULT_KMS_KEY_ID: the key Secrets Manager encrypts new secrets with (aws). */
  kmsKeyId?: string | undefined
  region?: string
  /**
   * Local vault: records go to `<dataDir>/vault/`, the key to `<dataDir>/vault.key` unless `localKey` is given.
   * `null` keeps records in memory (gone on restart): only for tests and benchmarks, so it must be asked for.
   */
  dataDir?: string | null
  localKey?: Buffer | undefined
  /** Earlier local vault keys (rotation): still read, replaced by the current key on each record's next write. */
  localPreviousKeys?: Buffer[]
  /** TOKEN_VAULT=kms: the database holding vault_envelopes, KMS_KEY_ID and the data-key cache bounds. */
  kms?: { prisma: PrismaClient, keyId: string, dataKeyMaxAgeMs?: number, dataKeyMaxUses?: number, dataKeyCacheEntries?: number }
}

export type ClosableTokenVault = TokenVault & { close (): Promise<void> }

export async function createTokenVault (config: TokenVaultConfig): Promise<ClosableTokenVault> {
  const current = await createOne(config.kind, config)
  if (config.previous == null) return current
  return new MigratingTokenVault(current, await createOne(config.previous, config))
}

async function createOne (kind: VaultKind, config: TokenVaultConfig): Promise<ClosableTokenVault> {
  const prefix = config.prefix ?? DEFAULT_SECRET_PREFIX
  if (kind === 'aws') {
    const { AwsSecretsManagerVault } = await import('./aws-secrets-manager-vault.ts')
    return new AwsSecretsManagerVault({
      prefix,
      ...(config.region !== undefined && { region: config.region }),
      ...(config.kmsKeyId !== undefined && { kmsKeyId: config.kmsKeyId })
    })
  }
  if (kind === 'kms') {
    if (config.kms === undefined) throw new TypeError('createTokenVault: the KMS vault needs kms.prisma and kms.keyId')
    const { KmsEnvelopeVault } = await import('./kms-envelope-vault.ts')
    return new KmsEnvelopeVault({ ...config.kms, prefix, ...(config.region !== undefined && { region: config.region }) })
  }
  if (config.dataDir === undefined) {
    throw new TypeError('createTokenVault: the local vault needs dataDir (or dataDir: null for an in-memory vault)')
  }
  const dataDir = config.dataDir
  const key = config.localKey ?? (dataDir === null ? undefined : await loadOrCreateLocalVaultKey(dataDir))
  if (key === undefined) throw new TypeError('createTokenVault: an in-memory local vault needs localKey')
  return new LocalTokenVault({ key, previousKeys: config.localPreviousKeys ?? [], dir: dataDir === null ? null : path.join(dataDir, 'vault'), prefix })
}
