import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { test } from 'tap'
import { serverOptions } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { buildTestApp } from '../helper.ts'

/** The server's options on a fresh Fastify with a route that fails as a bug would; the log lines it writes. */
async function bareServer (t: Parameters<typeof buildTestApp>[0]) {
  const config = await loadConfig({ JWT_SECRET: randomBytes(32).toString('base64url'), LOG_LEVEL: 'info' })
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
  const server = Fastify(serverOptions(config, { level: 'info', stream }))
  server.get('/boom', async () => { throw new Error('a bug in a route') })
  server.get('/fine', async () => ({ ok: true }))
  await server.ready()
  t.teardown(async () => await server.close())
  return { server, lines }
}

test('the server options raise no deprecation warning (Fastify 6 drops disableRequestLogging)', async (t) => {
  const warnings: string[] = []
  const onWarning = (w: Error & { code?: string }) => { warnings.push(`${w.code ?? w.name}: ${w.message}`) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  await bareServer(t)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings.filter((w) => w.includes('FSTDEP')), [])
})

test('one log line per request: the redacted request, the status and the time; no "incoming request"', async (t) => {
  const { app, logs } = await buildTestApp(t)
  logs.length = 0
  const res = await app.inject({ method: 'GET', url: '/health', headers: { authorization: 'Bearer secret-token-value', cookie: 'a=secret-cookie' } })
  t.equal(res.statusCode, 200)
  const lines = logs.map((l) => JSON.parse(l) as Record<string, any>)
  t.same(lines.filter((l) => l.msg === 'incoming request'), [])
  const done = lines.filter((l) => l.msg === 'request completed')
  t.equal(done.length, 1, 'one line')
  t.match(done[0], { level: 30, req: { method: 'GET', url: '/health' }, res: { statusCode: 200 }, responseTime: Number })
  t.notOk(logs.join('\n').includes('secret-token-value') || logs.join('\n').includes('secret-cookie'), 'no credential in the line')
})

test('a route failing with an unexpected error is still logged at error, with the error', async (t) => {
  const { server, lines } = await bareServer(t)
  const res = await server.inject({ method: 'GET', url: '/boom' })
  t.equal(res.statusCode, 500)
  const errors = lines.filter((l) => l.level === 50)
  t.ok(errors.some((l) => l.err?.message === 'a bug in a route'), 'the error reaches the log (Fastify\'s default error log)')
  t.equal(lines.filter((l) => l.msg === 'request completed' && l.res?.statusCode === 500).length, 1, 'and the one request line')
  const fine = await server.inject({ method: 'GET', url: '/fine' })
  t.equal(fine.statusCode, 200)
})
