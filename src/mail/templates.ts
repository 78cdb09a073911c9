import type { MailMessage } from './mail-transport.ts'

/**
 * The mails, in plain text and HTML. Each carries exactly one secret, the single-use link it exists for (the code
 * is the link's `token` parameter: a native app that opens the link takes it from there), and nothing else about
 * the account: no password, no session, no other token.
 */

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c)

function message (to: string, subject: string, lines: { intro: string, action: string, link: string, outro: string }): MailMessage {
  const text = `${lines.intro}\n\n${lines.action}:\n${lines.link}\n\n${lines.outro}\n`
  const html = `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">
<p>${escapeHtml(lines.intro)}</p>
<p><a href="${escapeHtml(lines.link)}">${escapeHtml(lines.action)}</a></p>
<p style="color:#555">${escapeHtml(lines.outro)}</p>
</body></html>`
  return { to, subject, text, html }
}

const hours = (seconds: number): string => seconds >= 3600 && seconds % 3600 === 0
  ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`
  : `${Math.round(seconds / 60)} minutes`

export function verificationMail (input: { to: string, appName: string, link: string, ttlSeconds: number }): MailMessage {
  return message(input.to, `Confirm your email address for ${input.appName}`, {
    intro: `Confirm that ${input.to} is your email address for ${input.appName}.`,
    action: 'Confirm your email address',
    link: input.link,
    outro: `The link works once and for ${hours(input.ttlSeconds)}. If you did not create an account, ignore this mail.`
  })
}

export function passwordResetMail (input: { to: string, appName: string, link: string, ttlSeconds: number }): MailMessage {
  return message(input.to, `Reset your ${input.appName} password`, {
    intro: `Someone asked to reset the password of the ${input.appName} account for ${input.to}.`,
    action: 'Choose a new password',
    link: input.link,
    outro: `The link works once and for ${hours(input.ttlSeconds)}; using it signs you out everywhere. ` +
      'If you did not ask for this, ignore this mail: your password stays as it is.'
  })
}
