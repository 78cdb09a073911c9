/*
 * `npm run bench:jwt` (scripts/with-postgres.sh: a throwaway PostgreSQL 15, PG_URL): what ES256 access tokens cost
 * `{ me { id email } }` against the HS256 ones they replaced (issue 22 item 6), measured on the BUILT server.
 *
 * The server signs only ES256 now, and a new deployment never accepts HS256; but a deployment upgrading from HS256
 * accepts its JWT_SECRET tokens for one access-token lifetime (docs/access-tokens.md, "Upgrading from HS256"). This
 * script stages exactly that upgrade — a first start, a session, the signing keys removed, a second start — so one
 * server process answers `me` for HS256 tokens (verified as before the switch: fast-jwt HS256, no cache) and for
 * ES256 ones (fast-jwt ES256 with its cache of verified tokens), in the same rounds. Four loads:
 *   - one token for every request (a client reusing its token, as clients do): HS256, ES256;
 *   - TOKENS distinct tokens in turn, more than the verifier cache holds, so every ES256 request verifies the
 *     signature (a client's first request with each new token): HS256, ES256.
 * Before the loads, the verification alone (fast-jwt, this process, no server): HS256, ES256 uncached and cached.
 *
 * Knobs: BENCH_ROUNDS (3), BENCH_DURATION (s, 5), BENCH_CONNECTIONS (50), BENCH_SKIP_BUILD=1.
 */
import { execFileSync } from 'node:child_process'
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type autocannon from 'autocannon'
import { createSigner, createVerifier } from 'fast-jwt'
import pg from 'pg'
import { fmt, gql, load, median, mr } from './load.ts'
import type { Load } from './load.ts'
import { LOADGEN_CPU, log, onCleanup, pinned, pinPostgres, ROOT, runBench, sleep, startProcess } from './processes.ts'
import { ME, PASSWORD, REFRESH, SIGN_UP } from './operations.ts'

const num = (name: string, d: number) => { const v = Number(process.env[name] ?? d); return Number.isFinite(v) && v > 0 ? v : d }
const ROUNDS = num('BENCH_ROUNDS', 3)
const DURATION = num('BENCH_DURATION', 5)
const CONNECTIONS = num('BENCH_CONNECTIONS', 50)
/** More distinct tokens than fast-jwt's verifier cache keeps (1,000 by default), taken in turn: every one a miss. */
const TOKENS = 1500

/** µs per call of `fn`, the median of 5 batches of `n` after a warm-up batch. */
function perCallUs (n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < n; i++) fn(i)
  const batches: number[] = []
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) fn(i)
    batches.push((performance.now() - t0) * 1000 / n)
  }
  return median(batches)
}

/** The verification step alone, as the server builds its verifiers (src/sessions/access-tokens.ts). */
function verifyOnly (): Record<string, number> {
  const claims = { sub: 'u', sid: 's', email: 'bench@bench.example', iss: 'https://api.example', aud: 'inboxgate-api' }
  const common = { allowedIss: claims.iss, allowedAud: claims.aud, checkTyp: 'at+jwt', requiredClaims: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud'] }
  const secret = randomBytes(32)
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const priv = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  const pub = publicKey.export({ type: 'spki', format: 'pem' }) as string
  const N = 2000
  const signHs = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3600_000, header: { alg: 'HS256', typ: 'at+jwt' } })
  const signEs = createSigner({ key: priv, algorithm: 'ES256', expiresIn: 3600_000, header: { alg: 'ES256', typ: 'at+jwt' } })
  const hs = Array.from({ length: N }, (_, i) => signHs({ ...claims, n: i }))
  const es = Array.from({ length: N }, (_, i) => signEs({ ...claims, n: i }))
  const verifyHs = createVerifier({ ...common, algorithms: ['HS256'], key: secret })
  const verifyEs = createVerifier({ ...common, algorithms: ['ES256'], key: pub })
  const verifyEsCached = createVerifier({ ...common, algorithms: ['ES256'], key: pub, cache: true })
  verifyEsCached(es[0]!)
  return {
    hs256: perCallUs(N, (i) => verifyHs(hs[i]!)),
    es256: perCallUs(N, (i) => verifyEs(es[i]!)),
    es256Cached: perCallUs(N, () => verifyEsCached(es[0]!)),
    hs256Sign: perCallUs(500, (i) => signHs({ ...claims, n: i })),
    es256Sign: perCallUs(500, (i) => signEs({ ...claims, n: i }))
  }
}

async function main (): Promise<void> {
  const PG_URL = process.env.PG_URL
  if (PG_URL == null || PG_URL === '') throw new Error('PG_URL is not set: run `npm run bench:jwt`')
  if (pinned) execFileSync('taskset', ['-a', '-cp', String(LOADGEN_CPU), String(process.pid)], { stdio: 'ignore' })
  log(`load average at start: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  const micro = verifyOnly()
  log(`verify only (µs): HS256 ${fmt(micro.hs256!, 1)}, ES256 ${fmt(micro.es256!, 1)}, ES256 cached ${fmt(micro.es256Cached!, 1)}; sign: HS256 ${fmt(micro.hs256Sign!, 1)}, ES256 ${fmt(micro.es256Sign!, 1)}`)

  if (process.env.BENCH_SKIP_BUILD !== '1') {
    log('npm run build')
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  }
  const server = path.join(ROOT, 'dist', 'src', 'server.js')
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'inboxgate-bench-jwt-'))
  onCleanup(async () => await rm(dataDir, { recursive: true, force: true }))
  const schema = `bench_${randomBytes(4).toString('hex')}`
  const secretHex = randomBytes(32).toString('hex')
  const env: Record<string, string | undefined> = {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATA_DIR: dataDir,
    DATABASE_URL: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`,
    DB_POOL_MAX: '10',
    JWT_SECRET: secretHex,
    LOCAL_VAULT_KEY: randomBytes(32).toString('hex'),
    ACCESS_TOKEN_TTL_SECONDS: '86400',
    SIGNUP_MAX_PER_IP: '1000000000',
    LOGIN_MAX_ATTEMPTS_PER_IP: '1000000000'
  }
  const db = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` })
  await db.connect()
  onCleanup(async () => await db.end())

  // 1. A deployment as it was: a user with a live session (the first start also makes a signing key).
  const first = await startProcess('server (first start)', process.execPath, server, env, { readyPath: '/health' })
  const signedUp = await gql(first.url, SIGN_UP, { input: { email: 'bench@bench.example', password: PASSWORD, name: 'Bench User', client: 'NATIVE' } })
  const userId: string = signedUp.signUp.user.id
  await first.stop()
  // 2. As if that start had been the HS256 version: no signing key yet, a recent session → HS256 accepted for a while.
  await db.query('DELETE FROM signing_keys')
  const A = await startProcess('server', process.execPath, server, env, { readyPath: '/health' })
  onCleanup(async () => await A.stop())
  pinPostgres(LOADGEN_CPU)
  const legacy = (await db.query('SELECT legacy_hs256_until FROM signing_keys')).rows[0]?.legacy_hs256_until
  if (legacy == null) throw new Error('the server did not open the HS256 upgrade window')

  // Sessions with known refresh tokens (as sessions.start() writes them); each refresh hands out an ES256 token.
  const refreshTokens = Array.from({ length: TOKENS }, () => 'igrt_' + randomBytes(32).toString('base64url'))
  const sids = (await db.query(`INSERT INTO sessions (id, user_id, client_kind, current_token_hash, user_agent, ip, created_at, last_used_at, auth_time, expires_at)
      SELECT gen_random_uuid(), $1, 'NATIVE', h, 'bench', '127.0.0.1', now(), now(), now(), now() + interval '30 days' FROM unnest($2::text[]) AS h RETURNING id`,
  [userId, refreshTokens.map((t) => createHash('sha256').update(t).digest('base64url'))])).rows.map((r: { id: string }) => r.id)
  log(`refreshing ${TOKENS} sessions for ES256 tokens`)
  const es256: string[] = []
  for (const t of refreshTokens) es256.push((await gql(A.url, REFRESH, { t })).refresh.accessToken)
  if (!es256.every((t) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).alg === 'ES256')) throw new Error('expected ES256 tokens')
  // HS256 tokens as the server signed them before the switch (same claims, kid = SHA-256 of the secret, 16 hex).
  const key = Buffer.from(secretHex, 'hex')
  const signHs = createSigner({ key, algorithm: 'HS256', kid: createHash('sha256').update(key).digest('hex').slice(0, 16), iss: 'inboxgate', aud: 'inboxgate-api', expiresIn: 86_400_000, header: { alg: 'HS256', typ: 'at+jwt' } })
  const now = Math.floor(Date.now() / 1000)
  const hs256 = sids.map((sid: string) => signHs({ sub: userId, email: 'bench@bench.example', name: 'Bench User', sid, auth_time: now }))

  const body = JSON.stringify({ query: ME })
  const expected = await (await fetch(`${A.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${es256[0]}`, 'content-type': 'application/json' }, body })).text()
  const viaHs = await (await fetch(`${A.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${hs256[0]}`, 'content-type': 'application/json' }, body })).text()
  if (expected !== viaHs || !expected.includes('bench@bench.example')) throw new Error(`me differs: ${expected} / ${viaHs}`)

  // autocannon's expectBody does not combine with per-request tokens: the answers are compared here.
  let wrong = 0
  const target = (tokens: string[]): autocannon.Options => {
    let i = 0
    return {
      url: `${A.url}/graphql`,
      requests: [{
        method: 'POST',
        path: '/graphql',
        setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${tokens[i++ % tokens.length]}`, 'content-type': 'application/json' }, body }),
        onResponse: (_status, text) => { if (text !== expected) wrong++ }
      }]
    }
  }
  const loads: Record<string, () => autocannon.Options> = {
    'HS256, one token': () => target([hs256[0]!]),
    'ES256, one token': () => target([es256[0]!]),
    [`HS256, ${TOKENS} tokens in turn`]: () => target(hs256),
    [`ES256, ${TOKENS} tokens in turn`]: () => target(es256)
  }
  const names = Object.keys(loads)
  const results = new Map<string, Load[]>(names.map((n) => [n, []]))
  for (const n of names) await load(A.pid, CONNECTIONS, { ...loads[n]!(), duration: 1 })
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!)
    for (const n of order) {
      const r = await load(A.pid, CONNECTIONS, { ...loads[n]!(), duration: DURATION })
      if (r.bad > 0 || wrong > 0) throw new Error(`${n}: ${r.bad + wrong} bad answers`)
      results.get(n)!.push(r)
      await sleep(200)
    }
    log(`round ${round + 1}/${ROUNDS}: ${names.map((n) => `${n} ${fmt(results.get(n)!.at(-1)!.rps)} req/s`).join('; ')}`)
  }

  const lines = [
    `Node ${process.version}, ${os.cpus().length} CPUs${pinned ? ' (server on CPU 1, load and PostgreSQL on CPU 0)' : ''}, ${ROUNDS} rounds × ${DURATION} s, ${CONNECTIONS} connections; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} at the end.`,
    '',
    '| `{ me { id email } }` on the built server | req/s | p99 | server CPU per request |',
    '|---|---|---|---|',
    ...names.map((n) => { const r = results.get(n)!; return `| ${n} | ${mr(r.map((x) => x.rps))} | ${mr(r.map((x) => x.p99), 0, ' ms')} | ${mr(r.map((x) => x.cpuUs), 0, ' µs')} |` }),
    '',
    '| fast-jwt alone, this process | µs per call |',
    '|---|---|',
    `| verify HS256 | ${fmt(micro.hs256!, 1)} |`,
    `| verify ES256 | ${fmt(micro.es256!, 1)} |`,
    `| verify ES256, cached token | ${fmt(micro.es256Cached!, 1)} |`,
    `| sign HS256 / ES256 | ${fmt(micro.hs256Sign!, 1)} / ${fmt(micro.es256Sign!, 1)} |`
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

await runBench(main)
