import { invalidRequest, OAuthError, randomToken, sha256, unknownClient } from './oauth.ts'

// Clients and users: the Cloud Console's OAuth clients and the Google accounts that can sign in.

export type ClientType = 'web' | 'ios' | 'android'

export interface EmulatorClient {
  id: string
  /** null for public (iOS, Android) clients. */
  secret: string | null
  type: ClientType
  name: string
  redirectUris: string[]
  /** An app in "Testing" publishing status: its refresh tokens die after 7 days. */
  testing: boolean
}

export type ClientInput = { id: string } & Partial<Omit<EmulatorClient, 'id'>>

export interface EmulatorUser {
  /** The stable identity key; emails can change. */
  sub: string
  email: string
  emailVerified: boolean
  name: string
  givenName: string
  familyName: string
  picture: string
  locale: string
  hd?: string
  messagesTotal: number
  threadsTotal: number
  historyId: string
}

export type UserInput = Partial<EmulatorUser> & ({ email: string } | { sub: string })

// Google subs are 21-digit numbers; deriving them from the email keeps them stable across dev restarts.
const subFor = (email: string) => `1${BigInt(`0x${sha256(email.toLowerCase()).toString('hex').slice(0, 24)}`).toString().padStart(20, '0').slice(0, 20)}`

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

export class Directory {
  readonly clients = new Map<string, EmulatorClient>()
  /** By sub. */
  readonly users = new Map<string, EmulatorUser>()

  upsertClient (input: ClientInput): EmulatorClient {
    const prev = this.clients.get(input.id)
    const type = input.type ?? prev?.type ?? 'web'
    const client: EmulatorClient = {
      id: input.id,
      type,
      name: input.name ?? prev?.name ?? input.id,
      secret: input.secret !== undefined ? input.secret : prev ? prev.secret : type === 'web' ? randomToken('GOCSPX-', 21) : null,
      redirectUris: input.redirectUris ?? prev?.redirectUris ?? [],
      testing: input.testing ?? prev?.testing ?? false
    }
    this.clients.set(client.id, client)
    return client
  }

  requireClient (id: string): EmulatorClient {
    const client = this.clients.get(id)
    if (!client) throw unknownClient()
    return client
  }

  /** The token endpoint's client check: public clients have no secret to present. */
  authenticateClient (clientId: string | undefined, secret: string | undefined): EmulatorClient {
    if (!clientId) throw invalidRequest('Could not determine client ID from request.')
    const client = this.requireClient(clientId)
    if (client.secret !== null && secret !== client.secret) throw new OAuthError(401, 'invalid_client', 'Unauthorized')
    return client
  }

  upsertUser (input: UserInput): EmulatorUser {
    // An explicit sub is the identity: with it, the email may change.
    const prev = input.sub ? this.users.get(input.sub) : input.email ? this.findUser(input.email) : undefined
    const email = input.email ?? prev?.email
    if (!email) throw invalidRequest(`Unknown user ${input.sub}: a new user needs an email`)
    const local = email.split('@')[0] ?? email
    const givenName = input.givenName ?? prev?.givenName ?? capitalize(local)
    const familyName = input.familyName ?? prev?.familyName ?? 'Example'
    const sub = input.sub ?? prev?.sub ?? subFor(email)
    const user: EmulatorUser = {
      sub,
      email,
      emailVerified: input.emailVerified ?? prev?.emailVerified ?? true,
      name: input.name ?? prev?.name ?? `${givenName} ${familyName}`,
      givenName,
      familyName,
      picture: input.picture ?? prev?.picture ?? `https://lh3.googleusercontent.com/a/emulator-${sub}=s96-c`,
      locale: input.locale ?? prev?.locale ?? 'en',
      hd: input.hd ?? prev?.hd,
      messagesTotal: input.messagesTotal ?? prev?.messagesTotal ?? 0,
      threadsTotal: input.threadsTotal ?? prev?.threadsTotal ?? 0,
      historyId: input.historyId ?? prev?.historyId ?? String(100_000 + (parseInt(sub.slice(-5), 10) || 0))
    }
    this.users.set(sub, user)
    return user
  }

  /** By sub, or by email (case-insensitive). */
  findUser (ref: string): EmulatorUser | undefined {
    const lower = ref.toLowerCase()
    return this.users.get(ref) ?? [...this.users.values()].find(u => u.email.toLowerCase() === lower)
  }

  requireUser (ref: string | undefined): EmulatorUser {
    const user = ref ? this.findUser(ref) : undefined
    if (!user) throw invalidRequest(`Unknown user: ${ref ?? '(none)'}`)
    return user
  }
}
