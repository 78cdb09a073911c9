/*
 * The measurements of one Node.js version: the built server A (and B, a second process for custody) and the lean
 * reference L on the same CPU, against the same database. Ratios are computed within one round, because absolute
 * figures drift on a shared machine.
 */
import { createHash, randomBytes } from 'node:crypto'
import path from 'node:path'
import type autocannon from 'autocannon'
import pg from 'pg'
import type { RunningGoogleEmulator } from '../emulators/google/app.ts'
import { DEFAULT_IOS_CLIENT } from '../emulators/google/seeds.ts'
import { GMAIL_READONLY } from '../emulators/google/state.ts'
import { LocalTokenVault } from '../src/vault/local-token-vault.ts'
import { fmt, gql, load, scrape, sum } from './load.ts'
import type { Load } from './load.ts'
import { LOADGEN_CPU, log, memoryOf, onCleanup, pin, ROOT, RssSampler, SERVER_CPU, sleep, startProcess } from './processes.ts'
import type { Proc } from './processes.ts'
import { profileUnderLoad } from './profile.ts'
import type { NodeReport } from './report.ts'
import type { Settings } from './run.ts'
import { execFileSync } from 'node:child_process'
import { CONNECT, GMAIL_STATUS, LOGIN, ME, PASSWORD, REFRESH, SIGN_UP } from './operations.ts'

const STORM_USERS = 50
/** prom-client's event-loop histogram samples every 10 ms: each recorded delay includes that interval. */
const LOOP_RESOLUTION_MS = 10

const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const GOOGLE_TOKEN_TYPE = 'urn:inboxgate:params:oauth:token-type:google-access-token'

/** Tokens are compared by a hash: the orchestrator never needs (or prints) a Google token. */
const fingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 16)

interface Ctx {
  node: { label: string, bin: string, version: string }
  env: Record<string, string | undefined>
  leanScript: string
  emulator: RunningGoogleEmulator
  settings: Settings
}

export async function runSections ({ node, env, leanScript, emulator, settings: S }: Ctx): Promise<NodeReport> {
  const server = path.join(ROOT, 'dist', 'src', 'server.js')
  const A = await startProcess(`server A (${node.label})`, node.bin, server, env, { readyPath: '/health' })
  const rss = new RssSampler(A.pid)
  onCleanup(async () => rss.stop())
  // The lean reference verifies the server's ES256 tokens as an outside verifier would: the issuer from discovery,
  // the keys from the JWKS.
  const discovery = await (await fetch(`${A.url}/.well-known/openid-configuration`)).json() as { issuer: string }
  const leanEnv = { ...env, JWT_ISSUER: discovery.issuer, JWKS_URL: `${A.url}/.well-known/jwks.json` }
  const L = await startProcess(`lean reference (${node.label})`, node.bin, leanScript, leanEnv, { readyPath: '/constant' })
  const url = new URL(env.DATABASE_URL!)
  const db = new pg.Client({ connectionString: url.toString().replace(/[?&]schema=[^&]*/, ''), options: `-c search_path=${url.searchParams.get('schema')!}` })
  await db.connect()
  onCleanup(async () => await db.end())
  const report: NodeReport = { label: node.label, version: node.version, me: [], refresh: [], exchange: [], custody: [], storm: [], rss: [] }
  const c = S.connections

  // A user with a session and a Gmail connection (alice@example.com at the emulator); two service clients.
  const me = await gql(A.url, SIGN_UP, { input: { email: 'bench@bench.example', password: PASSWORD, name: 'Bench User', client: 'NATIVE' } })
  const token: string = me.signUp.accessToken
  const userId: string = me.signUp.user.id
  const g = emulator.state.nativeSignIn({ clientId: DEFAULT_IOS_CLIENT.id, user: 'alice@example.com', scopes: [GMAIL_READONLY] })
  const connected = await gql(A.url, CONNECT, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, token)
  if (connected.connectGmail.status.state !== 'ACTIVE') throw new Error('Gmail connection failed')
  const admin = (...args: string[]) => JSON.parse(execFileSync(node.bin, [path.join(ROOT, 'dist', 'src', 'admin', 'cli.js'), ...args], {
    cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']
  })) as { clientId: string, clientSecret: string }
  // --all-users: the bench is one app with its own backend (no per-user authorizeService step to measure).
  const onBehalf = admin('create-service-client', 'bench-on-behalf', '--all-users')
  const worker = admin('create-service-client', 'bench-worker', '--worker', '--all-users')
  const basic = (c: { clientId: string, clientSecret: string }) =>
    `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`

  const measure = async (proc: Proc, opts: autocannon.Options, seconds = S.duration): Promise<Load> => await load(proc.pid, c, { ...opts, duration: seconds })

  // ---- 1. me: GraphQL vs the lean reference ------------------------------------------------------------------
  rss.phase('1. me')
  const auth = { authorization: `Bearer ${token}` }
  const meTargets = {
    constant: { proc: L, opts: { method: 'GET', url: `${L.url}/constant` } },
    lean: { proc: L, opts: { method: 'GET', url: `${L.url}/me`, headers: auth } },
    graphql: { proc: A, opts: { method: 'POST', url: `${A.url}/graphql`, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ query: ME }) } }
  } satisfies Record<string, { proc: Proc, opts: autocannon.Options }>
  type MeTarget = keyof typeof meTargets
  const expected: Record<string, string> = {}
  for (const [name, t] of Object.entries(meTargets)) {
    const o = t.opts as autocannon.Options
    const res = await fetch(o.url, { method: o.method, headers: o.headers as Record<string, string>, body: o.body })
      .catch((err: Error) => { throw new Error(`me (${name}): ${String((err.cause as Error | undefined)?.message ?? err.message)}`) })
    expected[name] = await res.text()
  }
  if (expected.lean !== expected.graphql) throw new Error(`lean and GraphQL me differ:\n${expected.lean}\n${expected.graphql}`)
  for (const name of Object.keys(meTargets) as MeTarget[]) await measure(meTargets[name].proc, { ...meTargets[name].opts, expectBody: expected[name] }, S.warmup)
  for (let round = 0; round < S.rounds; round++) {
    // The order turns every round so that no target always runs first (or last) in a round.
    const order = (['constant', 'lean', 'graphql'] as MeTarget[]).map((_, i, all) => all[(i + round) % all.length]!)
    const r = {} as Record<MeTarget, Load>
    for (const name of order) {
      r[name] = await measure(meTargets[name].proc, { ...meTargets[name].opts, expectBody: expected[name] })
      await sleep(200)
    }
    report.me.push(r)
    log(`1. me round ${round + 1}/${S.rounds}: constant ${fmt(r.constant.rps)}, lean ${fmt(r.lean.rps)}, GraphQL ${fmt(r.graphql.rps)} req/s → ${fmt(r.graphql.rps / r.lean.rps, 3)}×; CPU ${fmt(r.lean.cpuUs)} / ${fmt(r.graphql.cpuUs)} µs`)
  }

  // ---- 2. refresh rotation: GraphQL vs the lean reference ------------------------------------------------------
  rss.phase('2. refresh rotation')
  /**
   * Sessions with known refresh tokens, inserted as sessions.start() would (a login per session would cost each
   * 30 ms of Argon2 and a round trip through the throttles, and measure the login, not the rotation).
   */
  const newSessions = async (count: number): Promise<string[]> => {
    const tokens = Array.from({ length: count }, () => 'igrt_' + randomBytes(32).toString('base64url'))
    await db.query(`INSERT INTO sessions (id, user_id, client_kind, current_token_hash, user_agent, ip, created_at, last_used_at, auth_time, expires_at)
                    SELECT gen_random_uuid(), $1, 'NATIVE', h, 'bench', '127.0.0.1', now(), now(), now(), now() + interval '30 days' FROM unnest($2::text[]) AS h`,
    [userId, tokens.map((t) => createHash('sha256').update(t).digest('base64url'))])
    return tokens
  }
  const refreshLoad = async (proc: Proc, target: 'graphql' | 'lean', seconds: number) => {
    // A request takes a token from the pool and its answer puts the successor back: a session is never in two
    // requests at once (that would be a genuine reuse), so every call is a rotation.
    const pool = await newSessions(c * 3)
    let failures = 0
    const body = target === 'graphql'
      ? (t: string | undefined) => JSON.stringify({ query: REFRESH, variables: { t } })
      : (t: string | undefined) => JSON.stringify({ refreshToken: t })
    const r = await measure(proc, {
      url: `${proc.url}${target === 'graphql' ? '/graphql' : '/refresh'}`,
      requests: [{
        method: 'POST',
        path: target === 'graphql' ? '/graphql' : '/refresh',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: body(pool.shift()) }),
        onResponse: (_status, text) => {
          try {
            const next = (JSON.parse(text) as { data?: { refresh?: { refreshToken?: string } } }).data?.refresh?.refreshToken
            if (next != null) pool.push(next)
            else failures++
          } catch { failures++ }
        }
      }]
    }, seconds)
    return { ...r, failures }
  }
  const before2 = await scrape(A.url)
  await refreshLoad(A, 'graphql', S.warmup)
  await refreshLoad(L, 'lean', S.warmup)
  for (let round = 0; round < S.rounds; round++) {
    const order = round % 2 === 0 ? ['graphql', 'lean'] as const : ['lean', 'graphql'] as const
    const r = {} as Record<'graphql' | 'lean', Load & { failures: number }>
    for (const t of order) r[t] = await refreshLoad(t === 'graphql' ? A : L, t, S.duration)
    report.refresh.push(r)
    log(`2. refresh round ${round + 1}/${S.rounds}: GraphQL ${fmt(r.graphql.rps)}/s (${fmt(r.graphql.cpuUs)} µs CPU), lean ${fmt(r.lean.rps)}/s (${fmt(r.lean.cpuUs)} µs); failures ${r.graphql.failures}/${r.lean.failures}`)
  }
  const after2 = await scrape(A.url)
  const rotations = (outcome: string) => sum(after2, 'inboxgate_refresh_token_rotations_total', `outcome="${outcome}"`) - sum(before2, 'inboxgate_refresh_token_rotations_total', `outcome="${outcome}"`)
  report.rotations = { rotated: rotations('rotated'), graceReplay: rotations('grace_replay'), reuse: rotations('reuse_detected') }

  // ---- 3. token exchange (fresh token) vs gmailStatus ----------------------------------------------------------
  rss.phase('3. token exchange / gmailStatus')
  // A backend exchanges a service token for its client (5 minutes; the API access token is refused there).
  const serviceToken = (await gql<{ serviceToken: { token: string } }>(A.url, 'mutation ($c: ID!) { serviceToken(clientId: $c) { token } }', { c: onBehalf.clientId }, token)).serviceToken.token
  const exchangeBody = new URLSearchParams({
    grant_type: EXCHANGE_GRANT, requested_token_type: GOOGLE_TOKEN_TYPE, subject_token: serviceToken, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token'
  }).toString()
  const exchangeTarget = { method: 'POST', url: `${A.url}/oauth/token`, headers: { authorization: basic(onBehalf), 'content-type': 'application/x-www-form-urlencoded' }, body: exchangeBody } as const
  const statusTarget = { method: 'POST', url: `${A.url}/graphql`, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ query: GMAIL_STATUS }) } as const
  const first = await fetch(exchangeTarget.url, exchangeTarget)
  if (first.status !== 200) throw new Error(`token exchange: HTTP ${first.status} ${await first.text()}`)
  await first.text()
  const statusBody = await (await fetch(statusTarget.url, statusTarget)).text()
  if (!statusBody.includes('"state":"ACTIVE"')) throw new Error(`gmailStatus: ${statusBody}`)
  await measure(A, exchangeTarget, S.warmup)
  await measure(A, { ...statusTarget, expectBody: statusBody }, S.warmup)
  const before3 = await scrape(A.url)
  emulator.state.resetStats()
  for (let round = 0; round < S.rounds; round++) {
    const r = { exchange: await measure(A, exchangeTarget), gmailStatus: await measure(A, { ...statusTarget, expectBody: statusBody }) }
    report.exchange.push(r)
    log(`3. round ${round + 1}/${S.rounds}: exchanges ${fmt(r.exchange.rps)}/s (${fmt(r.exchange.cpuUs)} µs CPU), gmailStatus ${fmt(r.gmailStatus.rps)}/s (${fmt(r.gmailStatus.cpuUs)} µs)`)
  }
  const after3 = await scrape(A.url)
  const delta3 = (name: string, ...match: string[]) => sum(after3, name, ...match) - sum(before3, name, ...match)
  report.exchangeCounts = {
    issued: delta3('inboxgate_oauth_token_exchanges_total', 'outcome="issued"'),
    vaultReads: delta3('inboxgate_vault_calls_total', 'operation="read"'),
    googleCalls: delta3('inboxgate_google_calls_total'),
    emulatorCalls: Object.values(emulator.state.stats().requests).reduce((a, b) => a + (b ?? 0), 0)
  }

  // ---- 3b. where the CPU goes: me, refresh and the exchange on a third server process under node --cpu-prof ----------
  const profiled = `profiled server (${node.label})`
  report.profiles = {
    me: await profileUnderLoad(profiled, node.bin, env, async (P) =>
      await measure(P, { ...meTargets.graphql.opts, url: `${P.url}/graphql`, expectBody: expected.graphql }, S.warmup + S.duration)),
    refresh: await profileUnderLoad(profiled, node.bin, env, async (P) => await refreshLoad(P, 'graphql', S.warmup + S.duration)),
    exchange: await profileUnderLoad(profiled, node.bin, env, async (P) =>
      await measure(P, { ...exchangeTarget, url: `${P.url}/oauth/token` }, S.warmup + S.duration))
  }
  for (const [name, prof] of Object.entries(report.profiles)) {
    log(`3b. profile, ${name}: ${prof.shares.slice(0, 3).map((x) => `${x.component} ${fmt(x.share * 100, 1)} %`).join(', ')}`)
  }

  // ---- 4. custody near expiry: one refresh for a burst of exchanges, in one process and across two -----------
  rss.phase('4. custody')
  const B = await startProcess(`server B (${node.label})`, node.bin, server, env, { readyPath: '/health', cpu: LOADGEN_CPU })
  const vault = new LocalTokenVault({ key: Buffer.from(env.LOCAL_VAULT_KEY!, 'hex'), dir: path.join(env.DATA_DIR!, 'vault') })
  /** The stored token (vault and row) now expires in 60 s, inside the refresh margin; every process's cache misses. */
  const age = async () => {
    const bundle = await vault.get(userId)
    if (bundle == null) throw new Error('no Gmail bundle for the bench user')
    const expiryDate = Date.now() + 60_000
    await vault.put(userId, { ...bundle, expiryDate })
    await db.query('UPDATE gmail_connections SET access_token_expires_at = $2, vault_version = vault_version + 1 WHERE user_id = $1', [userId, new Date(expiryDate)])
  }
  const workerBody = new URLSearchParams({ grant_type: EXCHANGE_GRANT, requested_token_type: GOOGLE_TOKEN_TYPE, subject_token: userId, subject_token_type: 'urn:inboxgate:params:oauth:token-type:user-id' }).toString()
  const burst = async (proc: Proc, callers: number) => await Promise.all(Array.from({ length: callers }, async () => {
    const res = await fetch(`${proc.url}/oauth/token`, { method: 'POST', headers: { authorization: basic(worker), 'content-type': 'application/x-www-form-urlencoded' }, body: workerBody })
    const json = await res.json() as { access_token?: string }
    return json.access_token != null ? fingerprint(json.access_token) : `error ${res.status}`
  }))
  const vaultOps = async (proc: Proc) => { const m = await scrape(proc.url); return { reads: sum(m, 'inboxgate_vault_calls_total', 'operation="read"'), writes: sum(m, 'inboxgate_vault_calls_total', 'operation="write"') } }
  for (let round = 0; round < S.custodyRounds; round++) {
    for (const split of [[100, 0], [50, 50]] as const) {
      await age()
      emulator.state.resetStats()
      const v0 = [await vaultOps(A), await vaultOps(B)]
      const started = performance.now()
      const answers = (await Promise.all([burst(A, split[0]), burst(B, split[1])])).flat()
      const ms = performance.now() - started
      const v1 = [await vaultOps(A), await vaultOps(B)]
      report.custody.push({
        processes: split[1] === 0 ? 1 : 2,
        google: emulator.state.stats().grantTypes.refresh_token ?? 0,
        writes: v1[0]!.writes - v0[0]!.writes + v1[1]!.writes - v0[1]!.writes,
        reads: v1[0]!.reads - v0[0]!.reads + v1[1]!.reads - v0[1]!.reads,
        tokens: new Set(answers.filter((a) => !a.startsWith('error'))).size,
        errors: answers.filter((a) => a.startsWith('error')).length,
        ms
      })
      const x = report.custody.at(-1)!
      log(`4. custody round ${round + 1}, ${x.processes} process(es): ${x.google} Google refresh, ${x.writes} vault writes, ${x.tokens} token(s), ${x.errors} errors`)
    }
  }
  report.hwmB = memoryOf(B.pid).hwm
  await B.stop()

  // ---- 5. login storm ------------------------------------------------------------------------------------------
  rss.phase('5. login storm')
  const emails = Array.from({ length: STORM_USERS }, (_, i) => `storm${i}@bench.example`)
  for (let i = 0; i < emails.length; i += 5) {
    await Promise.all(emails.slice(i, i + 5).map(async (email) => await gql(A.url, SIGN_UP, { input: { email, password: PASSWORD, client: 'NATIVE' } })))
  }
  const loop = async () => {
    const m = await scrape(A.url) // prom-client resets its histogram on every scrape: this reads the time since the last one
    return { p99: m.get('nodejs_eventloop_lag_p99_seconds')! * 1000 - LOOP_RESOLUTION_MS, max: m.get('nodejs_eventloop_lag_max_seconds')! * 1000 - LOOP_RESOLUTION_MS }
  }
  pin(A.pid, String(SERVER_CPU))
  await loop()
  await sleep(3000)
  report.idleLoopP99 = (await loop()).p99
  for (let round = -1; round < S.rounds; round++) {
    let next = 0
    let ok = 0
    let failures = 0
    await loop()
    const r = await load(A.pid, STORM_USERS, {
      url: `${A.url}/graphql`,
      duration: round < 0 ? S.warmup : S.loginDuration,
      requests: [{
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json' },
        // Round robin over the 50 accounts: concurrent logins are for different users, as in a real storm.
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: LOGIN, variables: { input: { email: emails[next++ % emails.length], password: PASSWORD, client: 'NATIVE' } } }) }),
        onResponse: (_status, body) => { if (body.includes('"accessToken"')) ok++; else failures++ }
      }]
    })
    const l = await loop()
    if (round < 0) continue
    report.storm.push({ perSecond: ok / r.duration, p99: r.p99, cpuMs: r.cpuUs / 1000, mainCpuMs: r.mainCpuUs / 1000, loopP99: l.p99, loopMax: l.max, failures, bad: r.bad })
    log(`5. login storm round ${round + 1}/${S.rounds}: ${fmt(ok / r.duration, 1)} logins/s, event-loop p99 ${fmt(l.p99, 1)} ms beyond the sampling interval, ${fmt(r.cpuUs / 1000, 1)} ms CPU per login`)
  }

  rss.phase('end')
  report.rss = [...rss.peaks].filter(([p]) => p !== 'end')
  report.hwm = memoryOf(A.pid).hwm
  rss.stop()
  await A.stop()
  await L.stop()
  return report
}
