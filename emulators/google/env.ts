import type { FastifyServerOptions } from 'fastify'
import { DEFAULT_IOS_CLIENT, DEFAULT_USERS, DEFAULT_WEB_CLIENT } from './seeds.ts'
import { ACCESS_TOKEN_TTL_SECONDS, type ClientInput, type UserInput } from './state.ts'

// The GOOGLE_EMULATOR_* variables, read in one place: the standalone emulator (main.ts) and `npm run dev`
// (scripts/dev.ts) seed and configure it the same way.

export interface EmulatorSettings {
  web: ClientInput & { secret: string, redirectUris: string[] }
  ios: ClientInput & { redirectUris: string[] }
  users: UserInput[]
  host: string
  port: number
  accessTokenTtlSeconds: number
  logger: FastifyServerOptions['logger']
}

export class EmulatorEnvError extends Error {
  override name = 'EmulatorEnvError'
}

const list = (value: string | undefined) => value?.split(',').map(s => s.trim()).filter(Boolean)
// As in the server's config: `FOO=` counts as unset rather than as an empty value.
const get = (env: Record<string, string | undefined>, name: string) => env[name] === '' ? undefined : env[name]

const integer = (env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number) => {
  const raw = get(env, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) throw new EmulatorEnvError(`${name} must be an integer from ${min} to ${max}, got ${raw}`)
  return value
}

/** `defaults.accessTokenTtlSeconds`: dev mode's shorter default; the standalone emulator keeps Google's 3599 s. */
export function emulatorSettingsFromEnv (env: Record<string, string | undefined>, defaults: { accessTokenTtlSeconds?: number } = {}): EmulatorSettings {
  const web = {
    ...DEFAULT_WEB_CLIENT,
    id: get(env, 'GOOGLE_EMULATOR_CLIENT_ID') ?? DEFAULT_WEB_CLIENT.id,
    secret: get(env, 'GOOGLE_EMULATOR_CLIENT_SECRET') ?? DEFAULT_WEB_CLIENT.secret,
    redirectUris: list(get(env, 'GOOGLE_EMULATOR_REDIRECT_URIS')) ?? DEFAULT_WEB_CLIENT.redirectUris,
    testing: get(env, 'GOOGLE_EMULATOR_TESTING') === 'true'
  }
  const iosId = get(env, 'GOOGLE_EMULATOR_IOS_CLIENT_ID') ?? DEFAULT_IOS_CLIENT.id
  const ios = {
    ...DEFAULT_IOS_CLIENT,
    id: iosId,
    // iOS redirect URIs are the reversed client id.
    redirectUris: [`com.googleusercontent.apps.${iosId.replace(/\.apps\.googleusercontent\.com$/, '')}:/oauth2redirect`]
  }
  const logLevel = get(env, 'GOOGLE_EMULATOR_LOG_LEVEL')
  return {
    web,
    ios,
    users: [...DEFAULT_USERS, ...(list(get(env, 'GOOGLE_EMULATOR_USERS')) ?? []).map(email => ({ email }))],
    host: get(env, 'GOOGLE_EMULATOR_HOST') ?? '127.0.0.1',
    port: integer(env, 'GOOGLE_EMULATOR_PORT', 4001, 0, 65535),
    accessTokenTtlSeconds: integer(env, 'GOOGLE_EMULATOR_ACCESS_TOKEN_TTL', defaults.accessTokenTtlSeconds ?? ACCESS_TOKEN_TTL_SECONDS, 1, 86_400),
    logger: logLevel ? { level: logLevel } : false
  }
}
