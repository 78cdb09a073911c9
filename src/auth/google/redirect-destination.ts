/**
 * Where the browser may be sent after Sign in with Google: the one check, used when the flow starts (on
 * `redirectTo`) and again on the final `Location` of the callback (whatever was stored or appended since).
 *
 * The value is normalised first, the way a browser will read it (WHATWG URL parsing against PUBLIC_URL), and only
 * then judged: a check on the raw string lets `/.//evil.test/p` through, whose path normalises to
 * `//evil.test/p`, a scheme-relative URL for whoever resolves the `Location` next.
 */

// Raw characters a browser silently drops (tab, CR, LF) or reads as `/` (backslash) while parsing: the value the
// browser acts on would differ from the one judged here, so they are refused outright.
const hasAmbiguousChars = (s: string) => /[\\]|^\s|\s$/.test(s) || [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
// Encoded slashes and backslashes in a path: harmless to a browser, but a proxy or framework that decodes once
// more turns `/%2f%2fevil.test` back into `//evil.test`.
const ENCODED_SEPARATOR = /%(2f|5c)/i

/**
 * The destination to use (a path on this server, or an absolute URL of an allowed origin), or null when it is
 * not allowed. Idempotent on its own results, so the callback can check its final `Location` with it again.
 */
export function safeRedirectTarget (redirectTo: string, publicUrl: string, allowedOrigins: readonly string[]): string | null {
  if (redirectTo.length === 0 || redirectTo.length > 2048 || hasAmbiguousChars(redirectTo)) return null
  const publicOrigin = new URL(publicUrl).origin
  let url: URL
  try {
    url = new URL(redirectTo, publicOrigin)
  } catch {
    return null
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
  if (url.username !== '' || url.password !== '') return null
  // After normalisation the path must not itself read as a scheme-relative URL (`//host`, `/\host`).
  if (url.pathname.startsWith('//') || url.pathname.startsWith('/\\') || ENCODED_SEPARATOR.test(url.pathname)) return null
  if (redirectTo.startsWith('/') && !redirectTo.startsWith('//')) {
    // A path: it must stay on this server (it always does once the checks above passed).
    return url.origin === publicOrigin ? `${url.pathname}${url.search}${url.hash}` : null
  }
  // Anything else must have been an absolute URL: relative forms (`evil.test`, `../x`, `//evil.test`) are refused
  // rather than guessed at.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(redirectTo)) return null
  return allowedOrigins.includes(url.origin) ? url.href : null
}
