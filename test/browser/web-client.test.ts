import { existsSync } from 'node:fs'
import Fastify from 'fastify'
import { test } from 'tap'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startWebExample } from '../../examples/web/serve.ts'
import { startGoogleEmulator } from '../../emulators/google/app.ts'
import { STATE_COOKIE } from '../../src/auth/google/routes.ts'
import { ALICE, BOB, WEB } from '../gmail/helpers.ts'
import { buildTestApp, COOKIE, PASSWORD } from '../helper.ts'
import { freePort } from '../support/free-port.ts'

// A real browser (Debian's chromium, driven by playwright-core) against the real server, the Google emulator
// and the example web client (examples/web). Proves docs/security.md items 11–12 (state cookie, PKCE through a real
// consent page), 22 (the refresh cookie is HttpOnly, Secure, SameSite=Strict, host-only: page JavaScript cannot
// read it), 23 (a cross-site form POST to the refresh mutation is refused) and 24 (CORS: another site's fetch
// with credentials is blocked), the client's refresh through the cookie after the access token expired, and 19a
// ("Connect Gmail" while signed in with a password connects Gmail to that user and keeps them signed in as themselves).

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// The flags from the machine notes: no sandbox as root, no GPU, and no background calls to Google's hosts.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const ACCESS_TOKEN_TTL_SECONDS = 60

if (!existsSync(CHROMIUM)) {
  if (process.env.CI === 'true') {
    test('browser end-to-end', (t) => { t.fail(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`); t.end() })
  } else {
    test('browser end-to-end', { skip: `${CHROMIUM} not found: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH) to run the browser test` }, () => {})
  }
} else {
  test('the example web client in headless Chromium: Google sign-in, HttpOnly cookie, refresh after expiry, CSRF, logout', async (t) => {
    t.setTimeout(300_000)
    const apiPort = await freePort()
    const api = `http://127.0.0.1:${apiPort}`
    const google = await startGoogleEmulator({
      clients: [{ ...WEB, redirectUris: [`${api}/auth/google/callback`] }],
      users: [ALICE, BOB]
    })
    t.teardown(() => google.close())

    const webPort = await freePort()
    const web = `http://127.0.0.1:${webPort}`
    const { app, logs } = await buildTestApp(t, {
      env: {
        GOOGLE_CLIENT_ID: WEB.id,
        GOOGLE_CLIENT_SECRET: WEB.secret,
        GOOGLE_API_BASE_URL: google.baseUrl,
        PUBLIC_URL: api,
        // The example is another origin of the same site (127.0.0.1): CORS with credentials, Strict cookie sent.
        PUBLIC_ORIGINS: `${api},${web}`,
        ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS),
        JWT_CLOCK_SKEW_SECONDS: '0'
      }
    })
    await app.listen({ host: '127.0.0.1', port: apiPort })
    const example = await startWebExample({ apiUrl: api, port: webPort })
    t.teardown(() => example.app.close())

    // Another site (localhost is not the same site as 127.0.0.1) that tries to spend the refresh cookie.
    const evil = Fastify()
    evil.get('/form', async (request, reply) => {
      const { enctype } = request.query as { enctype: string }
      const field = enctype === 'text/plain'
        ? '<input type="hidden" name=\'{"query":"mutation Refresh { refresh { accessToken } }","x":"\' value=\'"}\'>'
        : '<input type="hidden" name="query" value="mutation Refresh { refresh { accessToken } }">'
      return reply.type('text/html').send(`<form id="f" method="post" action="${api}/graphql" enctype="${enctype}">${field}</form>`)
    })
    evil.get('/', async (_request, reply) => reply.type('text/html').send('<p>another site</p>'))
    await evil.listen({ host: '127.0.0.1', port: 0 })
    t.teardown(() => evil.close())
    const evilAddress = evil.server.address()
    const evilUrl = `http://localhost:${typeof evilAddress === 'object' && evilAddress != null ? evilAddress.port : 0}`

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
    t.teardown(() => browser.close())
    const context: BrowserContext = await browser.newContext()
    const page: Page = await context.newPage()
    const refreshCookie = async () => (await context.cookies(api)).find((c) => c.name === COOKIE)
    const text = async (selector: string) => (await page.textContent(selector))?.trim() ?? ''

    // 1. Email and password: sign up, signed in, log out.
    await page.goto(web)
    await page.waitForSelector('#signed-out', { state: 'visible' })
    await page.fill('#email', 'browser.user@example.com')
    await page.fill('#password', PASSWORD)
    await page.click('#signup')
    await page.waitForSelector('#signed-in', { state: 'visible' })
    t.equal(await text('#me-email'), 'browser.user@example.com', 'signed up with email and password')
    t.ok(await refreshCookie(), 'the password login set the refresh cookie')

    // 1b. "Connect Gmail" while signed in with a password: Google's consent page, Bob's account, back signed in as
    //     ourselves with Gmail connected (not signed in as Bob, no new user).
    const usersBefore = await app.prisma.user.count()
    await page.click('#connect-gmail')
    await page.waitForURL(`${google.baseUrl}/o/oauth2/v2/auth?**`)
    const connectUrl = new URL(page.url())
    t.ok(connectUrl.searchParams.get('scope')?.split(' ').includes('https://www.googleapis.com/auth/gmail.readonly'), 'asks for gmail.readonly')
    t.equal(connectUrl.searchParams.get('include_granted_scopes'), 'true')
    await page.check(`#account-${BOB.sub}`)
    await page.click('#allow')
    await page.waitForURL(`${web}/`)
    await page.waitForSelector('#signed-in', { state: 'visible' })
    t.equal(await text('#notice'), 'Gmail connected.')
    t.equal(await text('#me-email'), 'browser.user@example.com', 'still signed in as the password user')
    await page.locator('#gmail-state', { hasText: /^Gmail is connected. \(ACTIVE\)$/ }).waitFor()
    t.equal(await text('#gmail-email'), BOB.email, 'Bob\'s mailbox is connected to this user')
    t.equal(await app.prisma.user.count(), usersBefore, 'nobody was created')
    t.equal(await app.prisma.user.count({ where: { googleSub: BOB.sub } }), 0, 'nobody signs in as Bob')
    await page.click('#logout')
    await page.waitForSelector('#signed-out', { state: 'visible' })
    t.equal(await refreshCookie(), undefined, 'logout cleared the cookie')

    // 2. Sign in with Google through the emulator's consent page, asking for Gmail too.
    await page.check('#with-gmail')
    await page.click('#google')
    await page.waitForURL(`${google.baseUrl}/o/oauth2/v2/auth?**`)
    const stateCookie = (await context.cookies(api)).find((c) => c.name === STATE_COOKIE)
    t.match(stateCookie, { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' }, 'the state is bound to this browser by an HttpOnly cookie')
    const consentUrl = new URL(page.url())
    t.equal(consentUrl.searchParams.get('code_challenge_method'), 'S256')
    t.equal(consentUrl.searchParams.get('state'), stateCookie?.value, 'the same state in the URL and the cookie')
    await page.check(`#account-${ALICE.sub}`)
    await page.click('#allow')
    await page.waitForURL(`${web}/`)
    await page.waitForSelector('#signed-in', { state: 'visible' })
    t.equal(await text('#me-email'), ALICE.email, 'signed in with Google')
    t.equal(await text('#notice'), 'Signed in with Google, Gmail connected.')
    // Locators, not waitForFunction: the example page's CSP (script-src 'self') refuses the eval that a string
    // predicate needs; Playwright's selector engine needs none.
    await page.locator('#gmail-state', { hasText: /^Gmail is connected. \(ACTIVE\)$/ }).waitFor()
    t.equal(await text('#gmail-email'), ALICE.email, 'gmailStatus shows the connected mailbox')
    t.equal((await context.cookies(api)).find((c) => c.name === STATE_COOKIE), undefined, 'the state cookie is gone after the callback')

    // 3. The refresh cookie: HttpOnly, Secure, SameSite=Strict, host-only, and invisible to page JavaScript
    //    (cookies are per host, not per port: the example page at 127.0.0.1 would see it if it were readable).
    const first = await refreshCookie()
    t.match(first, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/', domain: '127.0.0.1' })
    const visible = await page.evaluate<string>('document.cookie')
    t.notOk(visible.includes(COOKIE), 'document.cookie does not show the refresh cookie')
    t.notOk(visible.includes(first!.value), 'nor its value')

    // 4. Another site posts a form to the refresh mutation (login CSRF / token theft): refused, nothing rotates.
    const session = await app.prisma.session.findFirstOrThrow({ where: { user: { email: ALICE.email }, revokedAt: null } })
    const evilPage = await context.newPage()
    for (const enctype of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      await evilPage.goto(`${evilUrl}/form?enctype=${encodeURIComponent(enctype)}`)
      const [response] = await Promise.all([
        evilPage.waitForResponse((r) => r.url() === `${api}/graphql`),
        evilPage.evaluate('document.getElementById("f").submit()')
      ])
      t.ok(response.status() >= 400 && response.status() < 500, `cross-site ${enctype} form POST refused (${response.status()})`)
      t.notMatch(await response.text(), /accessToken"\s*:\s*"/, 'no access token in the answer')
    }
    // A script on the other site cannot read an answer either: CORS allows exact origins only.
    await evilPage.goto(evilUrl)
    const fetched = await evilPage.evaluate(async (url) => {
      try {
        const r = await fetch(url, {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json', 'x-mercurius-operation-name': 'Refresh' },
          body: JSON.stringify({ query: 'mutation Refresh { refresh { accessToken } }' })
        })
        return `status ${r.status}`
      } catch (err) {
        return `blocked: ${(err as Error).name}`
      }
    }, `${api}/graphql`)
    t.equal(fetched, 'blocked: TypeError', 'a cross-origin fetch with credentials is blocked by CORS')
    await evilPage.close()
    const after = await app.prisma.session.findUniqueOrThrow({ where: { id: session.id } })
    t.equal(after.currentTokenHash, session.currentTokenHash, 'the session did not rotate')
    t.equal(after.revokedAt, null, 'and was not revoked')
    t.equal((await refreshCookie())?.value, first!.value, 'the browser still holds the same refresh cookie')

    // 5. The access token expires (60 s, real time: the server checks it on the wall clock); the client
    //    refreshes through the cookie and carries on.
    const expiresAt = Date.parse(await text('#token-expiry'))
    t.ok(expiresAt > Date.now(), 'an access token valid for now')
    await page.waitForTimeout(Math.max(0, expiresAt - Date.now()) + 1500)
    const [refreshResponse] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${api}/graphql` && r.request().headers()['x-mercurius-operation-name'] === 'Refresh'),
      page.click('#reload')
    ])
    t.equal(refreshResponse.status(), 200)
    await page.locator('#token-expiry').filter({ hasNotText: new Date(expiresAt).toISOString() }).waitFor()
    t.ok(Date.parse(await text('#token-expiry')) > Date.now(), 'a new access token')
    t.equal(await text('#me-email'), ALICE.email, 'still signed in')
    const rotated = await refreshCookie()
    t.not(rotated?.value, first!.value, 'the refresh cookie rotated')

    // 6. Logout revokes the session and clears the cookie; a reload stays signed out.
    await page.click('#logout')
    await page.waitForSelector('#signed-out', { state: 'visible' })
    t.equal(await refreshCookie(), undefined, 'logout cleared the refresh cookie')
    const revoked = await app.prisma.session.findUniqueOrThrow({ where: { id: session.id } })
    t.not(revoked.revokedAt, null, 'the session is revoked on the server')
    await page.reload()
    await page.waitForSelector('#signed-out', { state: 'visible' })
    t.equal(await text('#error'), '', 'signed out quietly: no error shown')

    const logged = logs.join('\n')
    t.notOk(logged.includes(first!.value) || logged.includes(rotated!.value), 'no refresh token in the server log')
  })
}
