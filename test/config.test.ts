import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
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
    [{ TOKEN_VAULT: 'vault' }, /TOKEN_VAULT/]
  ]
  for (const [env, message] of cases) t.throws(() => parseEnv(env), message, JSON.stringify(env))
  t.throws(() => parseEnv({ PORT: 'x', HOST: '' , ACCESS_TOKEN_TTL_SECONDS: '5' }), /PORT[\s\S]*ACCESS_TOKEN_TTL_SECONDS/, 'every bad variable listed')
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
