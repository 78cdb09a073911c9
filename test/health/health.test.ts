import { test } from 'tap'
import { missingAwsSetup } from '../../src/health/health.ts'
import { buildTestApp, gql } from '../helper.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'
import { buildGmailApp, connectWithTokens } from '../gmail/helpers.ts'
import { MeDocument } from '../support/generated/graphql.ts'

// GET /health (liveness) and GET /health/ready (readiness) against real dependencies: PGlite or PostgreSQL,
// moto's Secrets Manager stopped and started again, and the Google emulator with a fault switched on.

const CACHE_MS = 2000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('liveness, and readiness with the embedded defaults', async (t) => {
  const { app } = await buildTestApp(t)
  const live = await app.inject({ url: '/health' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', checks: { database: 'ok', vault: 'ok', google: 'not_configured' } })
})

test('readiness follows Secrets Manager (moto) going away and coming back; liveness does not', async (t) => {
  const moto = await startMoto()
  t.teardown(() => moto.stop())
  useMotoEnv(t, moto)
  const { app, logs } = await buildTestApp(t, { env: { TOKEN_VAULT: 'aws' } })

  const up = await app.inject({ url: '/health/ready' })
  t.equal(up.statusCode, 200, up.body)
  t.equal(up.json().checks.vault, 'ok')

  await moto.stop()
  await sleep(CACHE_MS + 100)
  const down = await app.inject({ url: '/health/ready' })
  t.equal(down.statusCode, 503)
  t.same(down.json(), { status: 'not_ready', checks: { database: 'ok', vault: 'fail', google: 'not_configured' } })
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'still alive: an outage is no reason to restart')
  t.ok(logs.some((l) => /"level":40/.test(l) && /readiness: vault unavailable/.test(l) && /GetSecretValue failed/.test(l)), 'the cause is logged at warn')

  await moto.restart()
  await sleep(CACHE_MS + 100)
  const back = await app.inject({ url: '/health/ready' })
  t.equal(back.statusCode, 200, back.body)
})

test('readiness checks Google when it is configured (the emulator with a fault)', async (t) => {
  const ctx = await buildGmailApp(t)
  const ok = await ctx.app.inject({ url: '/health/ready' })
  t.equal(ok.statusCode, 200, ok.body)
  t.equal(ok.json().checks.google, 'ok')

  ctx.google.state.addFault({ endpoint: 'certs', kind: 'http5xx' })
  await sleep(CACHE_MS + 100)
  const down = await ctx.app.inject({ url: '/health/ready' })
  t.equal(down.statusCode, 503)
  t.same(down.json().checks, { database: 'ok', vault: 'ok', google: 'fail' })
  t.ok(ctx.logs.some((l) => /readiness: google unavailable/.test(l) && /HTTP 5\d\d/.test(l)))
})

test('a GOOGLE_UNAVAILABLE answer is logged once at warn with its cause, and no token', async (t) => {
  const ctx = await buildGmailApp(t)
  ctx.google.state.addFault({ endpoint: 'tokeninfo', kind: 'http5xx' })
  const res = await connectWithTokens(ctx)
  t.equal(res.errors?.[0]?.extensions.code, 'GOOGLE_UNAVAILABLE')
  const lines = ctx.logs.filter((l) => l.includes('"code":"GOOGLE_UNAVAILABLE"'))
  t.equal(lines.length, 1, 'once')
  t.match(lines[0], /"level":40/)
  t.match(lines[0], /"cause":"Error: tokeninfo: HTTP 5\d\d"/)
  t.notMatch(ctx.logs.join('\n'), /ya29\.|1\/\/|eyJ/, 'no Google token in the logs')
  t.equal((await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).errors, undefined, 'the app still answers')
})

test('with TOKEN_VAULT=aws, a missing region or credentials is named', async (t) => {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('AWS_'))
  t.teardown(() => {
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k]
    for (const [k, v] of saved) process.env[k] = v
  })
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k]
  // No profile files, no instance metadata: nothing else the SDK could find.
  process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config'
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials'
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
  const missing = await missingAwsSetup()
  t.match(missing, [/^region \(set AWS_REGION\)/, /^credentials/])

  const { logs } = await buildTestApp(t, { env: { TOKEN_VAULT: 'aws' } })
  for (let i = 0; i < 50 && !logs.some((l) => l.includes('TOKEN_VAULT=aws')); i++) await sleep(100)
  t.ok(logs.some((l) => /"level":40/.test(l) && /TOKEN_VAULT=aws but the AWS SDK finds no region \(set AWS_REGION\) and no credentials/.test(l)), 'a warning at boot')

  process.env.AWS_REGION = 'eu-west-1'
  process.env.AWS_ACCESS_KEY_ID = 'testing'
  process.env.AWS_SECRET_ACCESS_KEY = 'testing'
  t.same(await missingAwsSetup(), [], 'nothing missing once set')
})
