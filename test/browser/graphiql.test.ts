import { existsSync } from 'node:fs'
import { test } from 'tap'
import { chromium } from 'playwright-core'
import type { Page } from 'playwright-core'
import { buildTestApp, COOKIE } from '../helper.ts'
import { freePort } from '../support/free-port.ts'

// GraphiQL as `npm start` serves it, in headless Chromium with every request to a non-local host aborted: it
// must load from this server alone (no CDN), run under its CSP without a violation, and its pre-filled headers
// must be enough to spend the refresh cookie.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Replaces the query editor's text (CodeMirror 5 keeps its instance on its element) and runs it. */
async function run (page: Page, query: string, expected: RegExp): Promise<string> {
  // Browser-side code as strings: this file is type-checked without the DOM library.
  await page.evaluate(`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(${JSON.stringify(query)})`)
  // GraphiQL re-reads the operations 100 ms after an edit (debounced); clicking before that, with the default
  // query's two operations, opens the "which operation?" menu instead of running.
  await page.waitForTimeout(1000)
  await page.click('.graphiql-execute-button')
  // Polled from here: page.waitForFunction with a string would need eval, which the page's CSP refuses.
  const deadline = Date.now() + 30_000
  let text = ''
  while (!expected.test(text = await page.textContent('.result-window') ?? '') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return text
}

if (!existsSync(CHROMIUM)) {
  if (process.env.CI === 'true') {
    test('GraphiQL offline', (t) => { t.fail(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`); t.end() })
  } else {
    test('GraphiQL offline', { skip: `${CHROMIUM} not found: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)` }, () => {})
  }
} else {
  test('GraphiQL loads from the server alone, under its CSP, and refreshes through the cookie', async (t) => {
    t.setTimeout(180_000)
    const port = await freePort()
    const api = `http://127.0.0.1:${port}`
    // No PUBLIC_ORIGINS: the default (PUBLIC_URL) must let GraphiQL's own page spend the cookie.
    const { app } = await buildTestApp(t, { env: { PUBLIC_URL: api } })
    await app.listen({ host: '127.0.0.1', port })

    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
    t.teardown(() => browser.close())
    const context = await browser.newContext()
    const blocked: string[] = []
    await context.route('**/*', async (route) => {
      const { hostname } = new URL(route.request().url())
      if (hostname === '127.0.0.1' || hostname === 'localhost') return await route.continue()
      blocked.push(route.request().url())
      await route.abort('internetdisconnected')
    })
    const page = await context.newPage()
    const violations: string[] = []
    await page.addInitScript(`window.cspViolations = []
      document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample))`)
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(e.message))

    const response = await page.goto(`${api}/graphiql`)
    t.equal(response?.status(), 200)
    t.match(response?.headers()['content-security-policy'], /script-src 'self';/)
    t.notMatch(response?.headers()['content-security-policy'], /unsafe-(inline|eval)/, 'neither inline script nor eval allowed')
    await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 60_000 })

    t.match(await run(page, '{ __typename }', /"__typename": "Query"/), /"__typename": "Query"/, 'a query runs and its result shows')

    const signUp = await run(page, 'mutation { signUp(input: {email: "graphiql@example.com", password: "graphiql walkthrough", client: WEB}) { user { email } } }', /"email"/)
    t.match(signUp, /graphiql@example\.com/)
    t.ok((await context.cookies(api)).some((c) => c.name === COOKIE), 'the WEB sign-up set the refresh cookie')
    // The pre-filled x-mercurius-operation-name header is what the cookie needs besides this page's origin.
    const refreshed = await run(page, 'mutation Refresh { refresh { accessToken } }', /"accessToken"|"errors"/)
    t.match(refreshed, /"accessToken": "ey/, 'refresh through the cookie with the pre-filled headers')

    t.same(blocked, [], 'no request left the machine')
    t.same(await page.evaluate('window.cspViolations'), [], 'no CSP violation')
    t.same(violations, [], 'no CSP message on the console')
    t.same(pageErrors, [], 'no page error')
  })
}
