import { AUTH_ERROR_MESSAGES } from '../../errors.ts'

/**
 * What a person sees from the Google redirect flow when it cannot go back to the app: a plain page (a bad or
 * replayed `state` means we do not know who asked; a destination that is not allowed is not followed).
 */

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export function resultPage (code: string | null, about: 'sign_in' | 'gmail' = 'sign_in', detail?: string): string {
  const ok = code == null
  const gmail = about === 'gmail'
  const title = gmail ? (ok ? 'Gmail connected' : 'Connecting Gmail failed') : ok ? 'Signed in with Google' : 'Sign in with Google failed'
  const message = ok
    ? (gmail ? 'Gmail is connected to your account. You can close this window or go back to the app.' : 'You are signed in. You can close this window or go back to the app.')
    : AUTH_ERROR_MESSAGES.get(code) ?? (gmail ? 'Gmail was not connected. Start again.' : 'The sign-in did not complete. Start again.')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}code{background:#eee;padding:0 .25rem}</style>
</head><body>
<h1 id="title">${title}</h1>
<p id="message">${escapeHtml(message)}</p>
${detail == null ? '' : `<p id="detail">${escapeHtml(detail)}</p>\n`}${ok ? '' : `<p>Error code: <code id="code">${escapeHtml(code.slice(0, 64))}</code></p>\n<p><a href="/auth/google">Sign in with Google again</a></p>`}
</body></html>
`
}
