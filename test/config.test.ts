import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t0, { test } from 'tap'
import { ConfigError, loadConfig, parseEnv } from '../src/config.ts'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'inboxgate-config-'))
  dirs.push(dir)
  return dir
}
t0.teardown(async () => { await Promise.all(dirs.map(async (d) => await rm(d, { recursive: true, force: true }))) })

const key32 = () => randomBytes(32).toString('base64')
/** What PRODUCTION=true needs besides: keys from configuration, not generated files. */
const PRODUCTION_KEYS = { JWT_SECRET: key32(), LOCAL_VAULT_KEY: key32(), PUBLIC_URL: 'https://localhost:5000' }

test('defaults need no external service', async (t) => {
  const env = parseEnv({})
  t.equal(env.PORT, 4000)
  t.equal(env.HOST, '127.0.0.1')
  t.equal(env.DATABASE_URL, undefined, 'embedded PGlite')
  t.equal(env.TOKEN_VAULT, 'local')
  t.equal(env.ACCESS_TOKEN_TTL_SECONDS, 900)
  t.equal(env.PRODUCTION, false)
})

test('a bad variable fails fast and is named', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /PORT/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ REFRESH_COOKIE_NAME: 'rt' }, /REFRESH_COOKIE_NAME: must start with __Host- or __Secure-/],
    [{ PRODUCTION: 'maybe' }, /PRODUCTION/],
    [{ GOOGLE_CLIENT_ID: 'x.apps.googleusercontent.com' }, /GOOGLE_CLIENT_SECRET: is required/],
    [{ GOOGLE_API_BASE_URL: 'http://127.0.0.1:4001/prefix' }, /GOOGLE_API_BASE_URL: must be an origin/],
    [{ PASSWORD_MIN_LENGTH: '6' }, /PASSWORD_MIN_LENGTH/],
    [{ TOKEN_VAULT: 'vault' }, /TOKEN_VAULT/],
    [{ TOKEN_VAULT: 'kms' }, /KMS_KEY_ID: is required with TOKEN_VAULT=kms/],
    [{ TOKEN_VAULT: 'aws', TOKEN_VAULT_PREVIOUS: 'kms' }, /KMS_KEY_ID: is required with TOKEN_VAULT_PREVIOUS=kms/],
    [{ TOKEN_VAULT: 'aws', TOKEN_VAULT_PREVIOUS: 'aws' }, /TOKEN_VAULT_PREVIOUS: must differ from TOKEN_VAULT/],
    [{ TOKEN_VAULT: 'kms', KMS_KEY_ID: 'alias/x', KMS_DATA_KEY_MAX_USES: '0' }, /KMS_DATA_KEY_MAX_USES/]
  ]
  for (const [env, message] of cases) t.throws(() => parseEnv(env), message, JSON.stringify(env))
  t.throws(() => parseEnv({ PORT: 'x', HOST: '', ACCESS_TOKEN_TTL_SECONDS: '5' }), /PORT[\s\S]*ACCESS_TOKEN_TTL_SECONDS/, 'every bad variable listed')
  await t.rejects(loadConfig({ JWT_SECRET: 'too-short' }), /JWT_SECRET: must encode at least 32 bytes/)
  await t.rejects(loadConfig({ JWT_SECRET: 'a'.repeat(20) }), ConfigError)
})

test('without JWT_SECRET a 256-bit key is generated into the data directory once, mode 0600', async (t) => {
  const dir = await tempDir()
  const first = await loadConfig({ DATA_DIR: dir })
  const second = await loadConfig({ DATA_DIR: dir })
  t.equal(first.jwtKeys.current.key.length, 32)
  t.same(first.jwtKeys.current.key, second.jwtKeys.current.key, 'reused across restarts')
  t.equal((await stat(path.join(dir, 'jwt-secret'))).mode & 0o777, 0o600)
  t.ok((await readFile(path.join(dir, 'jwt-secret'), 'utf8')).trim().length >= 43)
  const other = await loadConfig({ DATA_DIR: await tempDir() })
  t.not(other.jwtKeys.current.key.toString('hex'), first.jwtKeys.current.key.toString('hex'), 'never a hard-coded default')
})

test('the server refuses to start on bad configuration, naming the variable', async (t) => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: 'not-a-port', DATA_DIR: await tempDir() },
    encoding: 'utf8',
    timeout: 60_000
  })
  t.equal(res.status, 1)
  t.match(res.stderr, /Invalid configuration:\n\s+PORT:/)
})

test('origins are checked as browsers send them, and the message says what to write', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PUBLIC_ORIGINS: 'http://localhost:4000/' }, "PUBLIC_ORIGINS: 'http://localhost:4000/' has a trailing slash; write http://localhost:4000"],
    [{ PUBLIC_ORIGINS: 'http://127.0.0.1:4000,https://app.example.com/login' }, "PUBLIC_ORIGINS: 'https://app.example.com/login' has a path (/login); an origin has none: write https://app.example.com"],
    [{ AUTH_REDIRECT_ORIGINS: 'HTTPS://App.Example.com:443' }, "AUTH_REDIRECT_ORIGINS: 'HTTPS://App.Example.com:443' is not written as browsers send it; write https://app.example.com"],
    [{ PUBLIC_URL: 'http://localhost:4000/' }, "PUBLIC_URL: 'http://localhost:4000/' has a trailing slash; write http://localhost:4000"],
    [{ PUBLIC_URL: 'localhost:4000' }, "PUBLIC_URL: 'localhost:4000' is not an http(s) origin"],
    [{ PUBLIC_URL: 'app.example.com' }, "PUBLIC_URL: 'app.example.com' is not an origin; write scheme://host[:port]"],
    [{ PUBLIC_ORIGINS: 'https://app.example.com?x=1' }, "PUBLIC_ORIGINS: 'https://app.example.com?x=1' has a query or fragment"]
  ]
  for (const [env, message] of cases) {
    t.throws(() => parseEnv(env), { name: 'ConfigError', message: new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }, JSON.stringify(env))
  }
  t.doesNotThrow(() => parseEnv({ PUBLIC_URL: 'https://api.example.com', PUBLIC_ORIGINS: 'https://app.example.com,http://localhost:5173' }))
})

test('PUBLIC_ORIGINS defaults to the server\'s own origin, following PORT, with its loopback twin in development', async (t) => {
  const dir = await tempDir()
  const dev = await loadConfig({ DATA_DIR: dir, PORT: '5000' })
  t.equal(dev.PUBLIC_URL, 'http://127.0.0.1:5000')
  // Issue 20, item 3: and the example web client's default origin (`npm run web` beside `npm start`).
  t.same(dev.PUBLIC_ORIGINS, ['http://127.0.0.1:5000', 'http://localhost:5000', 'http://127.0.0.1:4002', 'http://localhost:4002'])
  t.same(dev.AUTH_REDIRECT_ORIGINS, dev.PUBLIC_ORIGINS)
  const named = await loadConfig({ DATA_DIR: dir, PUBLIC_URL: 'http://localhost:5000' })
  t.same(named.PUBLIC_ORIGINS, ['http://localhost:5000', 'http://127.0.0.1:5000', 'http://127.0.0.1:4002', 'http://localhost:4002'])
  const prod = await loadConfig({ DATA_DIR: dir, PORT: '5000', PRODUCTION: 'true', ...PRODUCTION_KEYS })
  t.same(prod.PUBLIC_ORIGINS, ['https://localhost:5000'], 'no twin and no example in production')
  const site = await loadConfig({ DATA_DIR: dir, PUBLIC_URL: 'https://api.example.com' })
  t.same(site.PUBLIC_ORIGINS, ['https://api.example.com', 'http://127.0.0.1:4002', 'http://localhost:4002'], 'a real host has no twin')
  const explicit = await loadConfig({ DATA_DIR: dir, PUBLIC_ORIGINS: 'https://app.example.com' })
  t.same(explicit.PUBLIC_ORIGINS, ['https://app.example.com'], 'a list that is set is taken as it is')
  const v6 = await loadConfig({ DATA_DIR: dir, HOST: '::1', PORT: '5000' })
  t.equal(v6.PUBLIC_URL, 'http://[::1]:5000', 'an IPv6 HOST is bracketed')
})

test('every bad key is reported at once (issue 20, item 7)', async (t) => {
  const env = { DATA_DIR: await tempDir(), JWT_SECRET: 'short', JWT_PREVIOUS_SECRETS: `${key32()},tiny`, LOCAL_VAULT_KEY: 'ab', LOCAL_VAULT_PREVIOUS_KEYS: 'cd', PORT: 'x', PUBLIC_URL: 'http://a.example/' }
  const err = await loadConfig(env).then(() => null, (e: Error) => e)
  t.ok(err instanceof ConfigError)
  for (const line of ['PORT:', 'JWT_SECRET: must encode at least 32 bytes', 'JWT_PREVIOUS_SECRETS[1]: must encode at least 32 bytes',
    'LOCAL_VAULT_KEY: must encode exactly 32 bytes', 'LOCAL_VAULT_PREVIOUS_KEYS[0]: must encode exactly 32 bytes', "PUBLIC_URL: 'http://a.example/' has a trailing slash"]) {
    t.match(err?.message, line)
  }
  t.notMatch(err?.message, /short|tiny/, 'the values themselves are not printed')
})

test('CORS admits the example web client\'s default origin outside PRODUCTION', async (t) => {
  const { buildTestApp } = await import('./helper.ts')
  const { app } = await buildTestApp(t)
  for (const origin of ['http://127.0.0.1:4002', 'http://localhost:4002']) {
    const res = await app.inject({ method: 'OPTIONS', url: '/graphql', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    t.equal(res.headers['access-control-allow-origin'], origin, origin)
    t.equal(res.headers['access-control-allow-credentials'], 'true')
  }
  const other = await app.inject({ method: 'OPTIONS', url: '/graphql', headers: { origin: 'http://127.0.0.1:4003', 'access-control-request-method': 'POST' } })
  t.equal(other.headers['access-control-allow-origin'], undefined)
})

// docs/security.md item 27 (production posture): PRODUCTION=true refuses what only development may use.
test('PRODUCTION=true refuses an http: Google base URL, a generated JWT key or a generated local vault key, naming each', async (t) => {
  const dir = await tempDir()
  const prod = { DATA_DIR: dir, PRODUCTION: 'true' }
  await t.rejects(loadConfig(prod), { name: 'ConfigError', message: /JWT_SECRET: is required with PRODUCTION=true[\s\S]*LOCAL_VAULT_KEY: is required with PRODUCTION=true/ },
    'both missing keys are named at once')
  await t.rejects(loadConfig({ ...prod, ...PRODUCTION_KEYS, GOOGLE_API_BASE_URL: 'http://127.0.0.1:4100' }),
    { name: 'ConfigError', message: /GOOGLE_API_BASE_URL: must be https: with PRODUCTION=true/ })
  await t.rejects(loadConfig({ ...prod, LOCAL_VAULT_KEY: key32() }), /JWT_SECRET: is required/)
  await t.rejects(loadConfig({ ...prod, JWT_SECRET: key32() }), /LOCAL_VAULT_KEY: is required with PRODUCTION=true and TOKEN_VAULT=local/)
  t.same(await readdir(dir), [], 'no key file was generated on the way')

  const ok = await loadConfig({ ...prod, ...PRODUCTION_KEYS, GOOGLE_API_BASE_URL: 'https://google.internal.example' })
  t.equal(ok.PRODUCTION, true)
  t.equal(ok.localVaultKeys.current?.toString('base64'), PRODUCTION_KEYS.LOCAL_VAULT_KEY)
  const aws = await loadConfig({ ...prod, JWT_SECRET: key32(), TOKEN_VAULT: 'aws', PUBLIC_URL: 'https://api.example.com' })
  t.equal(aws.localVaultKeys.current, null, 'the AWS vault needs no local key')
  // Development keeps its conveniences.
  const dev = await loadConfig({ DATA_DIR: dir, GOOGLE_API_BASE_URL: 'http://127.0.0.1:4100' })
  t.equal(dev.GOOGLE_API_BASE_URL, 'http://127.0.0.1:4100')
})

test('LOCAL_VAULT_KEY and LOCAL_VAULT_PREVIOUS_KEYS are 32-byte keys, hex or base64, named when wrong', async (t) => {
  const dir = await tempDir()
  const hex = randomBytes(32).toString('hex')
  const previous = [key32(), randomBytes(32).toString('base64url')]
  const c = await loadConfig({ DATA_DIR: dir, LOCAL_VAULT_KEY: hex, LOCAL_VAULT_PREVIOUS_KEYS: previous.join(', ') })
  t.equal(c.localVaultKeys.current?.toString('hex'), hex)
  t.same(c.localVaultKeys.previous.map((k) => k.length), [32, 32])
  await t.rejects(loadConfig({ DATA_DIR: dir, LOCAL_VAULT_KEY: randomBytes(16).toString('hex') }), /LOCAL_VAULT_KEY: must encode exactly 32 bytes/)
  await t.rejects(loadConfig({ DATA_DIR: dir, LOCAL_VAULT_KEY: randomBytes(48).toString('hex') }), /LOCAL_VAULT_KEY: must encode exactly 32 bytes/)
  await t.rejects(loadConfig({ DATA_DIR: dir, LOCAL_VAULT_PREVIOUS_KEYS: `${key32()},${randomBytes(8).toString('hex')}` }), /LOCAL_VAULT_PREVIOUS_KEYS\[1\]/)
})

// The suite hashes at 1 MiB × 1 pass (test/helper.ts); a deployment cannot.
test('PRODUCTION=true refuses an Argon2 cost below OWASP\'s minimum; development may lower it', async (t) => {
  const dir = await tempDir()
  const prod = { DATA_DIR: dir, PRODUCTION: 'true', ...PRODUCTION_KEYS }
  t.match(await loadConfig(prod), { PASSWORD_HASH_MEMORY_KIB: 19456, PASSWORD_HASH_TIME_COST: 2 }, 'OWASP\'s first setting by default')
  await t.rejects(loadConfig({ ...prod, PASSWORD_HASH_MEMORY_KIB: '1024', PASSWORD_HASH_TIME_COST: '1' }),
    { name: 'ConfigError', message: /PASSWORD_HASH_MEMORY_KIB: is below OWASP's Argon2id minimum with PRODUCTION=true/ })
  await t.rejects(loadConfig({ ...prod, PASSWORD_HASH_MEMORY_KIB: '9216', PASSWORD_HASH_TIME_COST: '2' }), /PASSWORD_HASH_MEMORY_KIB: is below/)
  t.match(await loadConfig({ ...prod, PASSWORD_HASH_MEMORY_KIB: '12288', PASSWORD_HASH_TIME_COST: '3' }), { PASSWORD_HASH_MEMORY_KIB: 12288 }, 'another row of OWASP\'s table')
  t.match(await loadConfig({ DATA_DIR: dir, PASSWORD_HASH_MEMORY_KIB: '1024', PASSWORD_HASH_TIME_COST: '1' }), { PASSWORD_HASH_MEMORY_KIB: 1024, PASSWORD_HASH_TIME_COST: 1 })
})

// Issue 21 item 8: PRODUCTION=true refuses /metrics without a token and a non-https PUBLIC_URL (both started before).
test('PRODUCTION=true refuses metrics without METRICS_TOKEN and a PUBLIC_URL that is not https', async (t) => {
  const dir = await tempDir()
  const prod = { DATA_DIR: dir, PRODUCTION: 'true', ...PRODUCTION_KEYS }
  await t.rejects(loadConfig({ ...prod, METRICS_ENABLED: 'true' }), { name: 'ConfigError', message: /METRICS_TOKEN: is required with PRODUCTION=true and METRICS_ENABLED=true/ })
  await t.rejects(loadConfig({ ...prod, PUBLIC_URL: 'http://api.example.com' }), { name: 'ConfigError', message: /PUBLIC_URL: must be set to an https: URL/ })
  const { PUBLIC_URL: _unset, ...withoutUrl } = prod
  await t.rejects(loadConfig(withoutUrl), /PUBLIC_URL: must be set to an https: URL/, 'the derived http://HOST:PORT default is refused too')
  const ok = await loadConfig({ ...prod, METRICS_ENABLED: 'true', METRICS_TOKEN: 'a'.repeat(32) })
  t.equal(ok.METRICS_ENABLED, true)
  t.ok((await loadConfig({ DATA_DIR: dir, METRICS_ENABLED: 'true', PUBLIC_URL: 'http://localhost:4000' })).METRICS_ENABLED, 'development is unchanged')
})
