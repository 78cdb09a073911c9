import { ownSecurityEvents } from '../../accounts/security-log.ts'
import type { Resolvers } from '../../generated/graphql.ts'
import { clearRefreshCookie } from '../../sessions/refresh-cookie.ts'

export const accountResolvers: Resolvers = {
  Query: {
    securityEvents: async (_root, { first }, ctx) => await ownSecurityEvents(ctx.app.prisma, (await ctx.viewer()).sub, first)
  },

  Mutation: {
    unlinkGoogle: async (_root, { password }, ctx) => {
      const viewer = await ctx.viewer()
      return await ctx.app.googleSignIn.unlink(viewer.sub, ctx.meta,
        async () => await ctx.app.stepUp.require(viewer, password, 'unlinkGoogle', ctx.meta))
    },
    unlinkApple: async (_root, { password }, ctx) => {
      const viewer = await ctx.viewer()
      return await ctx.app.appleSignIn.unlink(viewer.sub, ctx.meta,
        async () => await ctx.app.stepUp.require(viewer, password, 'unlinkApple', ctx.meta))
    },
    deleteAccount: async (_root, { password }, ctx) => {
      const viewer = await ctx.viewer()
      await ctx.app.stepUp.require(viewer, password, 'deleteAccount', ctx.meta)
      clearRefreshCookie(ctx.reply, ctx.app.config)
      await ctx.app.accountDeletion.delete(viewer.sub, 'user', ctx.meta)
      return true
    }
  },

  SecurityEvent: {
    createdAt: (e) => e.createdAt.toISOString()
  }
}
