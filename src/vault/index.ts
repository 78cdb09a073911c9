import path from 'node:path'
import { LocalTokenVault, loadOrCreateLocalVaultKey } from './local-token-vault.ts'
import { DEFAULT_SECRET_PREFIX } from './token-vault.ts'
import type { TokenVault } from './token-vault.ts'

export type { GmailTokenBundle, TokenVault, TokenVaultStats } from './token-vault.ts'
// The AWS vault (and the AWS SDK, ≈0.2 s to load) is imported from './aws-secrets-manager-vault.ts' by whoever needs
// it, and here only for TOKEN_VAULT=aws: a local-vault start never loads it.

export interface TokenVaultConfig {
  kind: 'aws' | 'local'
  prefix?: string
  kmsKeyId?: string
  region?: string
  /**
   * Local vault: records go to `<dataDir>/vault/`, the key to `<dataDir>/vault.key` unless `localKey` is given.
   * `null` keeps records in memory (gone on restart): only for tests and benchmarks, so it must be asked for.
   */
  dataDir?: string | null
  localKey?: Buffer
  /** Earlier local vault keys (rotation): still read, replaced by the current key on each record's next write. */
  localPreviousKeys?: Buffer[]
}

export type ClosableTokenVault = TokenVault & { close (): Promise<void> }

export async function createTokenVault (config: TokenVaultConfig): Promise<ClosableTokenVault> {
  const prefix = config.prefix ?? DEFAULT_SECRET_PREFIX
  if (config.kind === 'aws') {
    const { AwsSecretsManagerVault } = await import('./aws-secrets-manager-vault.ts')
    return new AwsSecretsManagerVault({
      prefix,
      ...(config.region !== undefined && { region: config.region }),
      ...(config.kmsKeyId !== undefined && { kmsKeyId: config.kmsKeyId })
    })
  }
  if (config.dataDir === undefined) {
    throw new TypeError('createTokenVault: the local vault needs dataDir (or dataDir: null for an in-memory vault)')
  }
  const dataDir = config.dataDir
  const key = config.localKey ?? (dataDir === null ? undefined : await loadOrCreateLocalVaultKey(dataDir))
  if (key === undefined) throw new TypeError('createTokenVault: an in-memory local vault needs localKey')
  return new LocalTokenVault({ key, previousKeys: config.localPreviousKeys ?? [], dir: dataDir === null ? null : path.join(dataDir, 'vault'), prefix })
}
