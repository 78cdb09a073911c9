import { generateKeyPairSync, sign } from 'node:crypto'
import { startGoogleEmulator } from '../../../emulators/google/app.ts'
import { RISC_EVENTS, RISC_ISSUER } from '../../../emulators/google/risc.ts'
import type { Delivery } from '../../../emulators/google/risc.ts'
import { ManualClock } from '../../../src/clock.ts'
import { ALICE, BOB, buildGmailApp, FOREIGN_IOS, IOS, WEB } from '../../gmail/helpers.ts'
import type { GmailTestContext } from '../../gmail/helpers.ts'

interface Teardown { teardown (fn: () => unknown): void }

export { RISC_EVENTS, RISC_ISSUER }

/** The app listening on a real port (Google pushes over HTTP), the emulator registered to push to it. */
export async function buildRiscApp (t: Teardown, opts: { listen?: boolean, env?: Record<string, string> } = {}): Promise<GmailTestContext & { receiverUrl: string }> {
  const clock = new ManualClock()
  // Short retries: the outage test waits through a few of them.
  const google = await startGoogleEmulator({ clients: [WEB, IOS, FOREIGN_IOS], users: [ALICE, BOB], clock, risc: { retryDelaysMs: [100, 200, 400, 800, 1600] } })
  t.teardown(() => google.close())
  const ctx = await buildGmailApp(t, { google, clock, ...(opts.env != null ? { env: opts.env } : {}) })
  let receiverUrl = 'http://127.0.0.1:1/google/risc'
  if (opts.listen !== false) {
    await ctx.app.listen({ host: '127.0.0.1', port: 0 })
    const address = ctx.app.server.address()
    receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address != null ? address.port : 0}/google/risc`
  }
  google.state.risc.stream = { url: receiverUrl, eventsRequested: Object.values(RISC_EVENTS) }
  return { ...ctx, receiverUrl }
}

/** Waits until the emulator has finished every delivery (delivered, rejected or dropped). */
export async function settled (ctx: GmailTestContext, timeoutMs = 10_000): Promise<Delivery[]> {
  const end = Date.now() + timeoutMs
  while (ctx.google.state.risc.pending > 0) {
    if (Date.now() > end) throw new Error('RISC deliveries still pending')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return ctx.google.state.risc.deliveries
}

export async function post (ctx: GmailTestContext, body: string, contentType = 'application/secevent+jwt') {
  return await ctx.app.inject({ method: 'POST', url: '/google/risc', headers: { 'content-type': contentType }, payload: body })
}

/** A SET signed by the emulator's RISC key, with claims the test chooses. */
export function setFor (ctx: GmailTestContext, event: keyof typeof RISC_EVENTS, subject: Record<string, unknown>, overrides: Record<string, unknown> = {}, aud = WEB.id) {
  return ctx.google.state.risc.sign({ [RISC_EVENTS[event]]: { subject } }, aud, overrides)
}

export const subjectOf = (sub: string) => ({ subject_type: 'iss-sub', iss: RISC_ISSUER, sub })

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

/** A token with the emulator's kid and claims but signed by a key that is not Google's. */
export function forged (ctx: GmailTestContext, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const kid = ctx.google.state.risc.jwks().keys[0]!.kid
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const head = `${b64({ alg: 'RS256', kid, ...header })}.${b64(claims)}`
  return `${head}.${sign('RSA-SHA256', Buffer.from(head), privateKey).toString('base64url')}`
}

export { ALICE, BOB, IOS, WEB }
