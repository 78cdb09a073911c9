import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { configuredGoogle } from '../google/google-gateway.ts'

/**
 * GET /health is liveness: the process answers (restart it if not). GET /health/ready is readiness: the database,
 * the token vault and, when configured, Google can be used now (take the instance out of rotation if not). A
 * dependency's outage makes an instance unready, never dead, so an orchestrator does not restart-loop every
 * instance during a Secrets Manager or Google incident.
 */

type CheckStatus = 'ok' | 'fail' | 'not_configured'
interface Readiness { ready: boolean, checks: Record<string, CheckStatus> }

/** A readiness probe must answer before the orchestrator's own timeout (often 1–5 s), whatever hangs behind. */
const CHECK_TIMEOUT_MS = 4000
/**
 * The endpoint is unauthenticated and each run calls Secrets Manager (billed per call) and Google: concurrent
 * probes share one run, and a result is reused for this long.
 */
const CACHE_MS = 2000

async function withTimeout (check: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([check(), new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
    })])
  } finally {
    clearTimeout(timer)
  }
}

/** The causes are logged (at warn, never a token: none of these calls carries one); the response names checks only. */
async function checkAll (app: FastifyInstance): Promise<Readiness> {
  const google = configuredGoogle(app)
  const checks: Array<[string, (() => Promise<unknown>) | null]> = [
    ['database', async () => await app.prisma.$queryRaw`SELECT 1`],
    ['vault', async () => await app.vault.checkReachable()],
    // TOKEN_VAULT=kms (or a migration from it): KMS named on its own, so the operator sees which half is down.
    ...(app.vault.checkKms == null ? [] : [['kms', async () => await app.vault.checkKms?.()] as [string, () => Promise<unknown>]]),
    // Google's ID-token keys, fetched through the key cache sign-in uses (public, and what sign-in needs first).
    ['google', google == null ? null : async () => { await google.checkReachable() }]
  ]
  const results = await Promise.all(checks.map(async ([name, check]): Promise<[string, CheckStatus]> => {
    if (check == null) return [name, 'not_configured']
    try {
      await withTimeout(check)
      return [name, 'ok']
    } catch (err) {
      const e = err as { message?: unknown, code?: unknown, cause?: { message?: unknown } }
      app.log.warn({ check: name, error: String(e.message ?? err).slice(0, 300), code: e.code, cause: e.cause?.message }, `readiness: ${name} unavailable`)
      return [name, 'fail']
    }
  }))
  return { ready: results.every(([, s]) => s !== 'fail'), checks: Object.fromEntries(results) }
}

/**
 * What the AWS SDK cannot resolve for TOKEN_VAULT=aws (region, credentials), named so the operator knows which
 * variable to set. Boot goes on: credentials may arrive later (an instance role), and readiness reports it meanwhile.
 */
export async function missingAwsSetup (): Promise<string[]> {
  // Only TOKEN_VAULT=aws or kms gets here: the AWS SDK stays unloaded otherwise.
  const { createSecretsManagerClient } = await import('../vault/aws-secrets-manager-vault.ts')
  const client = createSecretsManagerClient()
  const missing: string[] = []
  try {
    try {
      await client.config.region()
    } catch {
      missing.push('region (set AWS_REGION)')
    }
    try {
      await client.config.credentials()
    } catch {
      missing.push('credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance/task role)')
    }
  } finally {
    client.destroy()
  }
  return missing
}

export async function warnAboutAwsSetup (log: FastifyBaseLogger, setting = 'TOKEN_VAULT=aws'): Promise<void> {
  const missing = await missingAwsSetup()
  if (missing.length > 0) log.warn(`${setting} but the AWS SDK finds no ${missing.join(' and no ')}: Gmail custody answers VAULT_UNAVAILABLE until it does`)
}

export default async function health (app: FastifyInstance): Promise<void> {
  let last: { at: number, result: Promise<Readiness> } | undefined

  app.get('/health', async () => ({ status: 'ok' }))
  app.get('/health/ready', async (_request, reply) => {
    const now = Date.now()
    if (last == null || now - last.at > CACHE_MS) last = { at: now, result: checkAll(app) }
    const { ready, checks } = await last.result
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store').send({ status: ready ? 'ready' : 'not_ready', checks })
  })

  // KMS and Secrets Manager clients resolve region and credentials through the same SDK chain.
  const awsSetting = (['TOKEN_VAULT', 'TOKEN_VAULT_PREVIOUS'] as const).map((name) => [name, app.config[name]] as const)
    .find(([, kind]) => kind === 'aws' || kind === 'kms')
  if (awsSetting != null) {
    // Not awaited: resolving credentials may query instance metadata, which must not hold up the boot.
    app.addHook('onReady', async () => { warnAboutAwsSetup(app.log, `${awsSetting[0]}=${awsSetting[1]}`).catch(() => {}) })
  }
}
