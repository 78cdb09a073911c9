import { AUTH_ERROR_MESSAGES } from '../../errors.ts'

/**
 * The few things a person sees from the Google redirect flow: where the browser may be sent, and a plain
 * page for outcomes that cannot go back to the app (a bad or replayed `state` means we do not know who asked).
 */

/**
 * The destination `redirectTo` names, or null if it is not allowed. A path stays on this server; an absolute
 * URL must be http(s), carry no credentials and have an origin from the allowlist (exact match, so
 * `https://app.example.com.evil.test` or `//evil.test` never pass).
 */
export function safeRedirectTarget (redirectTo: string, publicUrl: string, allowedOrigins: readonly string[]): string | null {
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point of this check
  if (redirectTo.length === 0 || redirectTo.length > 2048 || /[\u0000-\u001f\\]/.test(redirectTo)) return null
  if (redirectTo.startsWith('/')) {
    if (redirectTo.startsWith('//')) return null
    const url = new URL(redirectTo, publicUrl)
    return url.origin === publicUrl ? `${url.pathname}${url.search}${url.hash}` : null
  }
  let url: URL
  try {
    url = new URL(redirectTo)
  } catch {
    return null
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
  if (url.username !== '' || url.password !== '') return null
  return allowedOrigins.includes(url.origin) ? url.href : null
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export function resultPage (code: string | null): string {
  const ok = code == null
  const title = ok ? 'Signed in with Google' : 'Sign in with Google failed'
  const message = ok
    ? 'You are signed in. You can close this window or go back to the app.'
    : AUTH_ERROR_MESSAGES.get(code) ?? 'The sign-in did not complete. Start again.'
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}code{background:#eee;padding:0 .25rem}</style>
</head><body>
<h1 id="title">${title}</h1>
<p id="message">${escapeHtml(message)}</p>
${ok ? '' : `<p>Error code: <code id="code">${escapeHtml(code.slice(0, 64))}</code></p>\n<p><a href="/auth/google">Sign in with Google again</a></p>`}
</body></html>
`
}
