import fp from 'fastify-plugin'
import { createTokenVault } from './index.ts'
import type { ClosableTokenVault } from './index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    vault: ClosableTokenVault
  }
}

/** The token vault chosen by TOKEN_VAULT: AWS Secrets Manager, or AES-256-GCM files in DATA_DIR (default). */
export default fp(async (app, opts: { vault?: ClosableTokenVault }) => {
  const c = app.config
  const vault = opts.vault ?? await createTokenVault({
    kind: c.TOKEN_VAULT,
    prefix: c.TOKEN_VAULT_PREFIX,
    kmsKeyId: c.TOKEN_VAULT_KMS_KEY_ID,
    dataDir: c.DATA_DIR,
    localKey: c.localVaultKeys.current ?? undefined,
    localPreviousKeys: c.localVaultKeys.previous
  })
  app.decorate('vault', vault)
  app.addHook('onClose', async () => { await vault.close() })
}, { name: 'vault', dependencies: ['config'] })
