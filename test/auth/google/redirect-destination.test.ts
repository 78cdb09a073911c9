import { test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { STATE_COOKIE } from '../../../src/auth/google/routes.ts'
import { ALICE, buildGmailApp } from '../../gmail/helpers.ts'
import type { GmailTestContext } from '../../gmail/helpers.ts'
import { COOKIE } from '../../helper.ts'

// docs/security.md item 12 (post-login redirects only to an allowlist): the destination is normalised the way a
// browser reads it before it is judged, at the start of the flow and again on the callback's final Location, for
// every outcome (signed in, cancelled at Google, Google failing).

const PUBLIC = 'http://localhost:4000'
const APP = 'http://localhost:4002'
const ENV = { PUBLIC_URL: PUBLIC, PUBLIC_ORIGINS: `${PUBLIC},${APP}` }

/** Each of these reaches another site (or runs script) once a browser or a decoding hop reads it. */
const HOSTILE = [
  // dot segments that normalise into a scheme-relative path
  '/.//evil.test/p', '/..//evil.test/p', '/x/../..//evil.test/p', '/%2e//evil.test/p', '/%2E%2E//evil.test/p', '/./\\evil.test',
  // scheme-relative and triple slashes
  '//evil.test/p', '///evil.test/p', '////evil.test/p',
  // encoded slashes and backslashes (one more decoding hop makes them real)
  '/%2f%2fevil.test/p', '/%2F/evil.test', '/%5cevil.test', '/%5C%5Cevil.test', '/%2f%5cevil.test',
  // backslashes, which WHATWG parsing reads as slashes
  '/\\evil.test', '\\/evil.test', '\\\\evil.test', `${APP}\\@evil.test/`, 'https:\\\\evil.test',
  // tabs, newlines and surrounding spaces, which browsers drop while parsing
  '/\t/evil.test', '/\n/evil.test', '/\r\n/evil.test', '\t//evil.test', ' //evil.test', 'java\tscript:alert(1)', `${APP}/ `,
  // userinfo: the part before @ is not the host
  `${APP}@evil.test/`, 'http://localhost:4002@evil.test/', `http://user:pw@${APP.slice(7)}/`, 'http://evil.test@localhost:4002/',
  // other schemes
  'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:msgbox(1)',
  'file:///etc/passwd', 'ftp://localhost:4002/', 'ws://localhost:4002/',
  // look-alike origins
  `${APP}.evil.test/`, 'http://localhost:4002:443.evil.test/', 'http://localhost.evil.test:4002/', 'https://localhost:4002/',
  'http://localhost:40020/', 'http://lоcalhost:4002/' /* Cyrillic о */, 'http://127.0.0.1:4002/',
  // relative forms that are not paths
  'evil.test', './/evil.test', '../evil.test', 'http:evil.test', 'http:/evil.test', 'http:\\\\evil.test', '?x=1', '#x'
]

/** Accepted, but only in their normalised form. */
const NORMALISED: Array<[string, string]> = [
  ['/a/./b/../c?x=1#f', '/a/c?x=1&signed_in=google#f'],
  ['/%2e%2e/graphiql', '/graphiql?signed_in=google'],
  ['HTTP://LOCALHOST:4002/App', `${APP}/App?signed_in=google`],
  ['http://LocalHost:4002/./x', `${APP}/x?signed_in=google`],
  [`${PUBLIC}/graphiql`, '/graphiql?signed_in=google']
]

interface Started { location: URL, cookie: string }

async function start (ctx: GmailTestContext, redirectTo: string): Promise<Started> {
  const res = await ctx.app.inject({ url: `/auth/google?redirectTo=${encodeURIComponent(redirectTo)}` })
  if (res.statusCode !== 302) throw new Error(`start: ${res.statusCode}`)
  return { location: new URL(res.headers.location as string), cookie: res.cookies.find((c) => c.name === STATE_COOKIE)!.value }
}

type Outcome = 'success' | 'cancel' | 'error'

async function finish (ctx: GmailTestContext, started: Started, outcome: Outcome): Promise<LightMyRequestResponse> {
  const req = ctx.google.state.validateAuthRequest(Object.fromEntries(started.location.searchParams))
  const redirect = new URL(outcome === 'cancel' ? ctx.google.state.deny(req) : ctx.google.state.authorize(req, ALICE.sub, req.scopes).redirect)
  if (outcome === 'error') ctx.google.state.addFault({ endpoint: 'token', kind: 'http5xx', status: 503 })
  try {
    return await ctx.app.inject({ url: `${redirect.pathname}${redirect.search}`, cookies: { [STATE_COOKIE]: started.cookie } })
  } finally {
    ctx.google.state.clearFaults()
  }
}

/** Where a browser that received this response goes next (null: it stays on our page). */
function nextStop (res: LightMyRequestResponse): URL | null {
  const location = res.headers.location
  return typeof location === 'string' ? new URL(location, PUBLIC) : null
}

test('hostile redirectTo forms are refused when the flow starts, before anything is stored', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  for (const target of HOSTILE) {
    const res = await ctx.app.inject({ url: `/auth/google?redirectTo=${encodeURIComponent(target)}` })
    t.equal(res.statusCode, 400, JSON.stringify(target))
    t.match(res.body, /REDIRECT_NOT_ALLOWED/, JSON.stringify(target))
    t.equal(res.headers.location, undefined, `${JSON.stringify(target)}: no redirect`)
  }
  t.equal(await ctx.app.prisma.oAuthState.count(), 0, 'no pending state for any of them')
})

test('accepted destinations are used in their normalised form', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  for (const [target, expected] of NORMALISED) {
    const res = await finish(ctx, await start(ctx, target), 'success')
    t.equal(res.statusCode, 303, target)
    t.equal(res.headers.location, expected, target)
  }
})

test('a hostile destination already stored is not followed at the callback: success, cancel and error', async (t) => {
  // A row written before this check existed (or by anything else that writes OAuthState): the callback judges the
  // destination again with the same function, so no outcome sends the browser off-site.
  const ctx = await buildGmailApp(t, { env: ENV })
  const users = await ctx.app.prisma.user.count()
  for (const outcome of ['success', 'cancel', 'error'] as const) {
    for (const target of ['//evil.test/p', '/.//evil.test/p', '/\\evil.test', 'https://evil.test/p', `${APP}@evil.test/`, 'javascript:alert(1)']) {
      const started = await start(ctx, '/')
      await ctx.app.prisma.oAuthState.updateMany({ data: { redirectTo: target } })
      const res = await finish(ctx, started, outcome)
      const label = `${outcome} ${JSON.stringify(target)}`
      const next = nextStop(res)
      t.ok(next == null || next.origin === PUBLIC || next.origin === APP, `${label}: stays on an allowed origin (${res.headers.location})`)
      t.equal(res.statusCode, 400, label)
      t.match(res.body, /REDIRECT_NOT_ALLOWED/, label)
      t.equal(res.cookies.find((c) => c.name === COOKIE), undefined, `${label}: no session handed out`)
    }
  }
  t.equal(await ctx.app.prisma.user.count(), users, 'nobody was signed up on the way')
})

test('the reported open redirect: /.//evil.test/p never ends on evil.test, whatever the outcome', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  for (const outcome of ['success', 'cancel', 'error'] as const) {
    const res = await ctx.app.inject({ url: `/auth/google?redirectTo=${encodeURIComponent('/.//evil.test/p')}` })
    if (res.statusCode === 302) {
      const started = { location: new URL(res.headers.location as string), cookie: res.cookies.find((c) => c.name === STATE_COOKIE)!.value }
      const back = await finish(ctx, started, outcome)
      t.not(nextStop(back)?.hostname, 'evil.test', `${outcome}: Location ${back.headers.location}`)
    } else {
      t.equal(res.statusCode, 400, `${outcome}: refused at the start`)
    }
  }
})
