import type { FastifyInstance } from 'fastify'
import { readServiceAccountKey, registerRiscReceiver, RiscRegistrationError } from '../google/risc/risc-registration.ts'
import { configuredGoogle } from '../google/google-gateway.ts'
import { reconcileVault } from '../gmail/vault-reconciliation.ts'
import { MigratingTokenVault } from '../vault/migrating-token-vault.ts'
import { migrateVault } from '../vault-migration/migrate-vault.ts'
import { normaliseEmail } from '../users/users-service.ts'
import { liveSessionWhere, userStanding } from '../sessions/live-session.ts'
import type { UserStanding } from '../sessions/live-session.ts'
import { runWebhookCommand } from './webhook-commands.ts'
import { AdminError, AdminUsageError, checkAdminArguments } from './usage.ts'

type UserState = UserStanding

async function findUser (app: FastifyInstance, email: string | undefined) {
  if (email == null) throw new AdminError('an email is required')
  let normalised
  try {
    normalised = normaliseEmail(email)
  } catch {
    throw new AdminError(`${JSON.stringify(email)} is not an email address`)
  }
  const user = await app.prisma.user.findUnique({
    where: { email: normalised },
    select: { id: true, email: true, disabledAt: true, deletionRequestedAt: true, createdAt: true, passwordHash: true, googleSub: true }
  })
  if (user == null) throw new AdminError(`no user with email ${email}`)
  return user
}

async function showUser (app: FastifyInstance, email: string | undefined) {
  const user = await findUser(app, email)
  const now = app.clock.now()
  const [sessions, gmail, authorizations] = await Promise.all([
    app.prisma.session.count({ where: { userId: user.id, ...liveSessionWhere(now, app.config) } }),
    app.prisma.gmailConnection.findUnique({
      where: { userId: user.id },
      select: { state: true, stateReason: true, googleEmail: true, grantedScopes: true, missingScopes: true, connectedAt: true, lastRefreshedAt: true }
    }),
    app.serviceAuthorizations.list(user.id)
  ])
  const state: UserState = userStanding(user)
  return {
    id: user.id,
    email: user.email,
    state,
    createdAt: user.createdAt,
    disabledAt: user.disabledAt,
    deletionRequestedAt: user.deletionRequestedAt,
    hasPassword: user.passwordHash != null,
    hasGoogle: user.googleSub != null,
    sessions,
    gmail: gmail ?? { state: 'NOT_CONNECTED' },
    serviceAuthorizations: authorizations.map((a) => ({ clientId: a.client.id, clientName: a.client.name, createdAt: a.createdAt, lastUsedAt: a.lastUsedAt }))
  }
}

async function disableUser (app: FastifyInstance, email: string | undefined) {
  const user = await findUser(app, email)
  if (user.disabledAt == null) await app.usersService.disable(user.id)
  return await showUser(app, user.email)
}

async function enableUser (app: FastifyInstance, email: string | undefined) {
  const user = await findUser(app, email)
  if (user.deletionRequestedAt != null) throw new AdminError('this user is being deleted: finish it with delete-user')
  if (user.disabledAt != null) {
    await app.prisma.user.update({ where: { id: user.id }, data: { disabledAt: null } })
    await app.auditLog.record('USER_ENABLED', { userId: user.id, detail: { by: 'operator' } })
  }
  return await showUser(app, user.email)
}

async function deleteUser (app: FastifyInstance, email: string | undefined) {
  const user = await findUser(app, email)
  await app.accountDeletion.request(user.id, 'operator')
  try {
    const { gmailGrantRevoked } = await app.accountDeletion.finish(user.id)
    return { id: user.id, deleted: true, gmailGrantRevoked }
  } catch (err) {
    const code = (err as { code?: unknown }).code
    return { id: user.id, deleted: false, state: 'DELETION_PENDING', error: typeof code === 'string' ? code : 'INTERNAL', retry: 'run delete-user again' }
  }
}

/** Printed with an --all-users client: it is every user's inbox behind one secret. */
export const ALL_USERS_WARNING = 'this client acts for EVERY user without their authorization: one leaked secret exposes every ' +
  'connected inbox. Use it only for a deployment with one app and its own backend; otherwise omit --all-users and ' +
  'let users authorize the client (authorizeService).'

async function createServiceClient (app: FastifyInstance, args: string[]) {
  const worker = args.includes('--worker')
  const allUsers = args.includes('--all-users')
  const rest = args.filter((a) => a !== '--worker' && a !== '--all-users')
  if (rest.length !== 1 || rest[0]!.startsWith('--')) throw new AdminError('usage: create-service-client <name> [--worker] [--all-users]')
  try {
    const created = await app.serviceClients.create(rest[0]!, worker, allUsers)
    if (!allUsers) return created
    app.log.warn(ALL_USERS_WARNING)
    return { ...created, allUsers, warning: ALL_USERS_WARNING }
  } catch (err) {
    if (err instanceof RangeError) throw new AdminError(err.message)
    throw err
  }
}

async function revokeServiceClient (app: FastifyInstance, clientId: string | undefined) {
  if (clientId == null) throw new AdminError('usage: revoke-service-client <clientId>')
  const revoked = await app.serviceClients.revoke(clientId)
  if (revoked == null) throw new AdminError(`no service client ${clientId}`)
  return revoked
}

/**
 * Google delivers RISC events only to an https receiver, and ours listens at /google/risc: anything else would
 * register a stream that never arrives. Plain http is accepted for a loopback receiver when the Google API is the
 * emulator (GOOGLE_API_BASE_URL set), as in dev mode and the tests.
 */
function riscReceiverProblem (app: FastifyInstance, receiverUrl: string): string | null {
  let url: URL
  try {
    url = new URL(receiverUrl)
  } catch {
    return `${JSON.stringify(receiverUrl)} is not a URL`
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && app.config.GOOGLE_API_BASE_URL != null)) {
    return `the receiver must be https: (Google delivers to https only), got ${url.protocol}`
  }
  if (url.pathname !== '/google/risc' || url.search !== '' || url.hash !== '') return `the receiver URL must end in /google/risc (this server's receiver), got ${url.pathname}${url.search}`
  return null
}

async function riscRegister (app: FastifyInstance, receiverUrl: string | undefined) {
  if (receiverUrl == null) throw new AdminError('Usage: google-risc-register <receiver URL>, e.g. https://api.example.com/google/risc')
  const problem = riscReceiverProblem(app, receiverUrl)
  if (problem != null) throw new AdminError(`google-risc-register: ${problem}, e.g. https://api.example.com/google/risc`)
  const file = app.config.GOOGLE_RISC_SERVICE_ACCOUNT_FILE
  if (file == null) throw new AdminError('GOOGLE_RISC_SERVICE_ACCOUNT_FILE is not set (a service account JSON key with the RISC Configuration Admin role)')
  try {
    return await registerRiscReceiver({ key: await readServiceAccountKey(file), receiverUrl, baseUrl: app.config.GOOGLE_API_BASE_URL, timeoutMs: app.config.GOOGLE_TIMEOUT_MS })
  } catch (err) {
    if (err instanceof RiscRegistrationError) throw new AdminError(err.message)
    throw err
  }
}

async function migrateVaultCommand (app: FastifyInstance, args: string[], progress: (line: string) => void) {
  const usage = 'usage: migrate-vault --to <kms|aws|local> [--delete-source]'
  const to = args[args.indexOf('--to') + 1]
  const unknown = args.filter((a, i) => a !== '--delete-source' && a !== '--to' && args[i - 1] !== '--to')
  if (!args.includes('--to') || to == null || !['kms', 'aws', 'local'].includes(to) || unknown.length > 0) throw new AdminError(usage)
  const { TOKEN_VAULT, TOKEN_VAULT_PREVIOUS } = app.config
  // The servers must already read the new vault first and write only to it (same settings as this command), or a
  // refresh during the copy would land in the source only.
  if (TOKEN_VAULT !== to) throw new AdminError(`--to ${to} but TOKEN_VAULT=${TOKEN_VAULT}: run it (and the servers) with TOKEN_VAULT=${to} and TOKEN_VAULT_PREVIOUS=<the source>`)
  if (TOKEN_VAULT_PREVIOUS == null || !(app.vault instanceof MigratingTokenVault)) throw new AdminError('TOKEN_VAULT_PREVIOUS is not set: it names the vault to migrate from')
  let last = 0
  return await migrateVault(app.vault, app.gmailConnections, {
    deleteSource: args.includes('--delete-source'),
    // Every 100 users or every second, whichever comes first, and at the end.
    onProgress: (done, total, r) => {
      if (done === total || done % 100 === 0 || Date.now() - last > 1000) {
        last = Date.now()
        progress(`migrate-vault: ${done}/${total} (copied ${r.copied}, already present ${r.alreadyPresent}, source deleted ${r.sourceDeleted}, failed ${r.failed})`)
      }
    }
  })
}

async function rewrapVault (app: FastifyInstance, progress: (line: string) => void) {
  const vault = app.vault instanceof MigratingTokenVault ? app.vault.current : app.vault
  const { KmsEnvelopeVault } = await import('../vault/kms-envelope-vault.ts')
  if (!(vault instanceof KmsEnvelopeVault)) throw new AdminError('rewrap-vault needs TOKEN_VAULT=kms')
  return await vault.rewrapAll((done, total) => { if (done === total || done % 100 === 0) progress(`rewrap-vault: ${done}/${total}`) })
}

/** Runs one command against a ready app; returns what is printed. */
export async function runAdminCommand (app: FastifyInstance, argv: string[], progress: (line: string) => void = () => {}): Promise<unknown> {
  checkAdminArguments(argv)
  const [command, arg] = argv
  switch (command) {
    case 'migrate-vault': return await migrateVaultCommand(app, argv.slice(1), progress)
    case 'rewrap-vault': return await rewrapVault(app, progress)
    case 'create-service-client': return await createServiceClient(app, argv.slice(1))
    case 'list-service-clients': return { clients: await app.serviceClients.list() }
    case 'revoke-service-client': return await revokeServiceClient(app, arg)
    case 'show-user': return await showUser(app, arg)
    case 'disable-user': return await disableUser(app, arg)
    case 'enable-user': return await enableUser(app, arg)
    case 'delete-user': return await deleteUser(app, arg)
    case 'finish-deletions': return { results: await app.accountDeletion.finishPending() }
    case 'google-risc-register': return await riscRegister(app, arg)
    case 'rotate-signing-key': return await app.signingKeys.rotate()
    case 'prune-deletion-records': return { deleted: await app.accountDeletion.pruneRecords() }
    case 'reconcile-vault': return await reconcileVault({ prisma: app.prisma, vault: app.vault, google: configuredGoogle(app), gmail: app.gmailConnections, auditLog: app.auditLog, log: app.log })
    default: {
      const answer = await runWebhookCommand(app, command, argv.slice(1))
      if (answer === undefined) throw new AdminUsageError(`unknown command ${JSON.stringify(command ?? '')}`)
      return answer
    }
  }
}
