import type { FastifyInstance } from 'fastify'
import { readServiceAccountKey, registerRiscReceiver, RiscRegistrationError } from '../google/risc/risc-registration.ts'
import { reconcileVault } from '../gmail/vault-reconciliation.ts'
import { normaliseEmail } from '../users/users-service.ts'
import { AdminError, AdminUsageError, checkAdminArguments } from './usage.ts'

type UserState = 'ACTIVE' | 'DISABLED' | 'DELETION_PENDING'

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
  const [sessions, gmail] = await Promise.all([
    app.prisma.session.count({
      where: {
        userId: user.id,
        revokedAt: null,
        expiresAt: { gt: now },
        lastUsedAt: { gt: new Date(now.getTime() - app.config.REFRESH_TOKEN_IDLE_SECONDS * 1000) }
      }
    }),
    app.prisma.gmailConnection.findUnique({
      where: { userId: user.id },
      select: { state: true, stateReason: true, googleEmail: true, grantedScopes: true, missingScopes: true, connectedAt: true, lastRefreshedAt: true }
    })
  ])
  const state: UserState = user.deletionRequestedAt != null ? 'DELETION_PENDING' : user.disabledAt != null ? 'DISABLED' : 'ACTIVE'
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
    gmail: gmail ?? { state: 'NOT_CONNECTED' }
  }
}

async function disableUser (app: FastifyInstance, email: string | undefined) {
  const user = await findUser(app, email)
  if (user.disabledAt == null) await app.users.disable(user.id)
  return await showUser(app, user.email)
}

async function enableUser (app: FastifyInstance, email: string | undefined) {
  const user = await findUser(app, email)
  if (user.deletionRequestedAt != null) throw new AdminError('this user is being deleted: finish it with delete-user')
  if (user.disabledAt != null) {
    await app.prisma.user.update({ where: { id: user.id }, data: { disabledAt: null } })
    await app.securityEvents.record('USER_ENABLED', { userId: user.id, detail: { by: 'operator' } })
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

async function createServiceClient (app: FastifyInstance, args: string[]) {
  const worker = args.includes('--worker')
  const rest = args.filter((a) => a !== '--worker')
  if (rest.length !== 1 || rest[0]!.startsWith('--')) throw new AdminError('usage: create-service-client <name> [--worker]')
  try {
    return await app.serviceClients.create(rest[0]!, worker)
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

/** Runs one command against a ready app; returns what is printed. */
export async function runAdminCommand (app: FastifyInstance, argv: string[]): Promise<unknown> {
  checkAdminArguments(argv)
  const [command, arg] = argv
  switch (command) {
    case 'create-service-client': return await createServiceClient(app, argv.slice(1))
    case 'list-service-clients': return { clients: await app.serviceClients.list() }
    case 'revoke-service-client': return await revokeServiceClient(app, arg)
    case 'show-user': return await showUser(app, arg)
    case 'disable-user': return await disableUser(app, arg)
    case 'enable-user': return await enableUser(app, arg)
    case 'delete-user': return await deleteUser(app, arg)
    case 'finish-deletions': return { results: await app.accountDeletion.finishPending() }
    case 'google-risc-register': return await riscRegister(app, arg)
    case 'prune-deletion-records': return { deleted: await app.accountDeletion.pruneRecords() }
    case 'reconcile-vault': return await reconcileVault({ prisma: app.prisma, vault: app.vault, google: app.google, gmail: app.gmail, securityEvents: app.securityEvents, log: app.log })
    default: throw new AdminUsageError(`unknown command ${JSON.stringify(command ?? '')}`)
  }
}
