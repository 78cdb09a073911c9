import { isUuid } from '../../db/uuid.ts'
import { Errors } from '../../errors.ts'
import type { Resolvers } from '../../generated/graphql.ts'
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from '../../sessions/refresh-cookie.ts'
import type { IssuedTokens } from '../../sessions/sessions-service.ts'
import { readDeviceCookie, setDeviceCookie } from '../../users/device-tokens.ts'
import type { GraphQLContext } from '../context.ts'

/** WEB clients get the refresh token as an HttpOnly cookie only; NATIVE clients in the body only. */
function deliver (ctx: GraphQLContext, issued: IssuedTokens): IssuedTokens {
  if (issued.clientKind === 'WEB') {
    setRefreshCookie(ctx.reply, ctx.app.config, issued.refreshToken, issued.session.expiresAt)
  }
  return issued
}

export const authResolvers: Resolvers = {
  Query: {
    // The user was read with the session by the live-session check: no second query.
    me: async (_root, _args, ctx) => (await ctx.viewer()).user,
    sessions: async (_root, { first }, ctx) => {
      const { sub } = await ctx.viewer()
      return await ctx.app.sessionsService.listActive(sub, first)
    }
  },

  Mutation: {
    signUp: async (_root, { input }, ctx) => {
      const { client, ...fields } = input
      return deliver(ctx, await ctx.app.usersService.signUp(fields, client ?? 'WEB', ctx.meta))
    },
    login: async (_root, { input }, ctx) => {
      const { client, deviceToken, ...fields } = input
      const kind = client ?? 'WEB'
      // WEB: the device token travels only in its HttpOnly cookie; NATIVE: in the body (kept in the keychain).
      const presented = kind === 'WEB' ? readDeviceCookie(ctx.request) : deviceToken
      const issued = await ctx.app.usersService.login({ ...fields, deviceToken: presented }, kind, ctx.meta)
      if (kind === 'WEB' && issued.deviceToken != null) setDeviceCookie(ctx.reply, issued.deviceToken, ctx.app.clock.now())
      return deliver(ctx, issued)
    },
    refresh: async (_root, { refreshToken, client }, ctx) => {
      const kind = client ?? 'WEB'
      if (kind === 'WEB' && refreshToken != null) {
        throw Errors.refreshTokenInBody({ field: 'refreshToken' })
      }
      const token = kind === 'WEB' ? readRefreshCookie(ctx.request, ctx.app.config) : refreshToken
      if (token == null || token === '') throw Errors.refreshTokenMissing()
      // A failed refresh never touches the cookie: a concurrent request may just have set its successor.
      return deliver(ctx, await ctx.app.sessionsService.refresh(token, kind, ctx.meta))
    },
    logout: async (_root, { everywhere }, ctx) => {
      const { sub, sid } = await ctx.viewer()
      await ctx.app.sessionsService.logout(sub, sid, everywhere === true, ctx.meta)
      clearRefreshCookie(ctx.reply, ctx.app.config)
      return true
    },
    revokeSession: async (_root, { id }, ctx) => {
      const { sub } = await ctx.viewer()
      // Scoped by user id: another user's session id is indistinguishable from an unknown one.
      if (!isUuid(id) || !(await ctx.app.sessionsService.revokeByUser(sub, id, ctx.meta))) {
        throw Errors.sessionNotFound()
      }
      return true
    },
    signInWithGoogle: async (_root, { idToken, client }, ctx) => {
      return deliver(ctx, await ctx.app.googleSignIn.signIn(idToken, client ?? 'NATIVE', ctx.meta))
    },
    signInWithApple: async (_root, { idToken, nonce, name, client }, ctx) => {
      return deliver(ctx, await ctx.app.appleSignIn.signIn(idToken, nonce, name, client ?? 'NATIVE', ctx.meta))
    },
    linkApple: async (_root, { idToken, nonce, password }, ctx) => {
      const viewer = await ctx.viewer()
      await ctx.app.stepUp.require(viewer, password, 'linkApple', ctx.meta)
      return await ctx.app.appleSignIn.link(viewer.sub, idToken, nonce, ctx.meta)
    },
    linkGoogle: async (_root, { idToken, password }, ctx) => {
      const viewer = await ctx.viewer()
      await ctx.app.stepUp.require(viewer, password, 'linkGoogle', ctx.meta)
      return await ctx.app.googleSignIn.link(viewer.sub, idToken, ctx.meta)
    },
    changePassword: async (_root, { input, client }, ctx) => {
      const { sub, sid } = await ctx.viewer()
      return deliver(ctx, await ctx.app.usersService.changePassword(sub, sid, input, client, ctx.meta))
    },
    verifyEmail: async (_root, { token }, ctx) => await ctx.app.emailVerification.verify(token, ctx.meta),
    resendVerificationEmail: async (_root, _args, ctx) => {
      const { sub } = await ctx.viewer()
      return await ctx.app.emailVerification.resend(sub)
    },
    requestPasswordReset: async (_root, { email }, ctx) => await ctx.app.passwordReset.request(email, ctx.meta),
    resetPassword: async (_root, { token, newPassword, client }, ctx) => {
      const user = await ctx.app.passwordReset.reset(token, newPassword, ctx.meta)
      return deliver(ctx, await ctx.app.passwordReset.signIn(user, client ?? 'WEB', ctx.meta))
    }
  },

  AuthPayload: {
    accessTokenExpiresAt: (p) => p.accessTokenExpiresAt.toISOString(),
    refreshToken: (p) => (p.clientKind === 'NATIVE' ? p.refreshToken : null),
    deviceToken: (p) => (p.clientKind === 'NATIVE' ? p.deviceToken ?? null : null),
    sessionId: (p) => p.session.id
  },

  User: {
    // The viewer's row is read without the hash: then one indexed existence check, only when asked for.
    hasPassword: async (u, _args, ctx) => 'passwordHash' in u
      ? u.passwordHash != null
      : (await ctx.app.prisma.user.count({ where: { id: u.id, passwordHash: { not: null } } })) > 0,
    hasGoogle: (u) => u.googleSub != null,
    hasApple: (u) => u.appleSub != null,
    createdAt: (u) => u.createdAt.toISOString()
  },

  Session: {
    createdAt: (s) => s.createdAt.toISOString(),
    lastUsedAt: (s) => s.lastUsedAt.toISOString(),
    expiresAt: (s) => s.expiresAt.toISOString(),
    current: async (s, _args, ctx) => (await ctx.viewer()).sid === s.id
  }
}
