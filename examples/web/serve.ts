import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { buildWebExample } from './build.ts'

export interface WebExampleOptions {
  /** The inboxgate API's origin, e.g. http://127.0.0.1:4000 (must list this page's origin in PUBLIC_ORIGINS). */
  apiUrl: string
  host?: string
  port?: number
}

/**
 * Serves the built example on its own origin, as a real web app would be: a different origin than the API
 * (CORS with credentials) but the same site (so the SameSite=Strict refresh cookie is sent to the API).
 */
export async function startWebExample (opts: WebExampleOptions): Promise<{ app: FastifyInstance, url: string }> {
  const dir = await buildWebExample()
  const api = new URL(opts.apiUrl).origin
  const html = (await readFile(path.join(dir, 'index.html'), 'utf8')).replace('%INBOXGATE_API_URL%', api)
  const js = await readFile(path.join(dir, 'app.js'), 'utf8')
  const app = Fastify({ logger: false })
  const headers = {
    'cache-control': 'no-store',
    // Only our own script, and fetches to the API: an injected script could not exfiltrate to elsewhere.
    'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src ${api}; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff'
  }
  const host = opts.host ?? '127.0.0.1'
  // Opened as localhost: the API at 127.0.0.1 would be another site, and the SameSite=Strict refresh cookie would
  // not come along. Send the browser to this page's 127.0.0.1 address instead of failing quietly.
  app.addHook('onRequest', async (req, reply) => {
    if (req.hostname === 'localhost' && host === '127.0.0.1') return await reply.redirect(`http://127.0.0.1${req.port == null ? '' : `:${req.port}`}${req.url}`, 307)
  })
  app.get('/', async (_req, reply) => reply.headers(headers).type('text/html; charset=utf-8').send(html))
  app.get('/app.js', async (_req, reply) => reply.headers(headers).type('text/javascript; charset=utf-8').send(js))
  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 4002 })
  const address = app.server.address()
  const port = typeof address === 'object' && address != null ? address.port : opts.port
  return { app, url: `http://${opts.host ?? '127.0.0.1'}:${port}` }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const apiUrl = process.env.INBOXGATE_API_URL ?? 'http://127.0.0.1:4000'
  const { url } = await startWebExample({ apiUrl, port: Number(process.env.WEB_EXAMPLE_PORT ?? 4002) })
  process.stdout.write(`example web client on ${url} (API ${apiUrl})\n`)
}
