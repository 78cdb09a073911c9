import fp from 'fastify-plugin'
import { createTokenVault } from './index.ts'
import type { ClosableTokenVault } from './index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    vault: ClosableTokenVault
  }
}

/**
 * The token vault chosen by TOKEN_VAULT: AWS Secrets Manager, KMS envelope encryption in the database, or AES-256-GCM
 * files in DATA_DIR (default); with TOKEN_VAULT_PREVIOUS, a migration's view of both.
 */
export default fp(async (app, opts: { vault?: ClosableTokenVault }) => {
  const c = app.config
  const vault = opts.vault ?? await createTokenVault({
    kind: c.TOKEN_VAULT,
    previous: c.TOKEN_VAULT_PREVIOUS,
    prefix: c.TOKEN_VAULT_PREFIX,
    kmsKeyId: c.TOKEN_VAULT_KMS_KEY_ID,
    dataDir: c.DATA_DIR,
    localKey: c.localVaultKeys.current ?? undefined,
    localPreviousKeys: c.localVaultKeys.previous,
    ...(c.KMS_KEY_ID != null && {
      kms: {
        prisma: app.prisma,
        keyId: c.KMS_KEY_ID,
        dataKeyMaxAgeMs: c.KMS_DATA_KEY_MAX_AGE_SECONDS * 1000,
        dataKeyMaxUses: c.KMS_DATA_KEY_MAX_USES,
        dataKeyCacheEntries: c.KMS_DATA_KEY_CACHE_ENTRIES
      }
    })
  })
  app.decorate('vault', vault)
  app.addHook('onClose', async () => { await vault.close() })
}, { name: 'vault', dependencies: ['config', 'prisma'] })
