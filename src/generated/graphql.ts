import type { GraphQLResolveInfo } from 'graphql';
import type { UserView } from '../sessions/live-session.ts';
import type { Session as SessionModel } from './prisma/client.ts';
import type { IssuedTokens } from '../sessions/sessions-service.ts';
import type { GmailStatusView } from '../gmail/gmail-connections.ts';
import type { SecurityEventView } from '../accounts/security-log.ts';
import type { GraphQLContext } from '../graphql/context.ts';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Omit<T, K extends keyof T> = Pick<T, Exclude<keyof T, K>>;
export type RequireFields<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
};

export type AuthPayload = {
  __typename?: 'AuthPayload';
  /** A JWT for `Authorization: Bearer`, valid until accessTokenExpiresAt (15 minutes by default). */
  accessToken: Scalars['String']['output'];
  /** ISO-8601 instant. */
  accessTokenExpiresAt: Scalars['String']['output'];
  /** The new refresh token for NATIVE clients; always null for WEB clients (it is in the HttpOnly cookie). */
  refreshToken?: Maybe<Scalars['String']['output']>;
  sessionId: Scalars['ID']['output'];
  user: User;
};

export type ChangePasswordInput = {
  currentPassword: Scalars['String']['input'];
  newPassword: Scalars['String']['input'];
};

/** Where a client keeps its refresh token. */
export type ClientKind =
  /** An iOS/Android/desktop app: the refresh token travels only in the response body (keep it in the Keychain); no cookie. */
  | 'NATIVE'
  /** A browser: the refresh token travels only in an HttpOnly cookie, and `AuthPayload.refreshToken` is null. */
  | 'WEB';

/**
 * What an app got from Google: either `serverAuthCode` (iOS Google Sign-In with GIDServerClientID, or a web
 * consent; exchanged by the server with its web client), or the tokens themselves (`accessToken` and
 * `refreshToken` from an iOS client; validated with Google, refreshed later with that client id).
 * `expiresIn` and `scope` are informative only: the server asks Google.
 */
export type ConnectGmailInput = {
  accessToken?: InputMaybe<Scalars['String']['input']>;
  expiresIn?: InputMaybe<Scalars['Int']['input']>;
  idToken?: InputMaybe<Scalars['String']['input']>;
  refreshToken?: InputMaybe<Scalars['String']['input']>;
  scope?: InputMaybe<Scalars['String']['input']>;
  serverAuthCode?: InputMaybe<Scalars['String']['input']>;
};

export type ConnectGmailPayload = {
  __typename?: 'ConnectGmailPayload';
  status: GmailStatus;
  warnings: Array<Warning>;
};

export type GmailConnectionState =
  /** A grant with gmail.readonly is held; the server keeps its access token valid. */
  | 'ACTIVE'
  /** No Gmail grant is held for this user. */
  | 'NOT_CONNECTED'
  /** Google said the grant is expired or revoked; it was deleted. Ask the user to connect again. */
  | 'RECONNECT_REQUIRED'
  /** The user did not grant gmail.readonly (granular consent); see missingScopes. */
  | 'SCOPE_MISSING';

export type GmailProfile = {
  __typename?: 'GmailProfile';
  emailAddress: Scalars['String']['output'];
  historyId: Scalars['String']['output'];
  messagesTotal: Scalars['Int']['output'];
  threadsTotal: Scalars['Int']['output'];
};

export type GmailStatus = {
  __typename?: 'GmailStatus';
  /** ISO-8601 expiry of the access token held in the vault. */
  accessTokenExpiresAt?: Maybe<Scalars['String']['output']>;
  connectedAt?: Maybe<Scalars['String']['output']>;
  googleEmail?: Maybe<Scalars['String']['output']>;
  grantedScopes: Array<Scalars['String']['output']>;
  lastRefreshedAt?: Maybe<Scalars['String']['output']>;
  missingScopes: Array<Scalars['String']['output']>;
  state: GmailConnectionState;
};

export type LoginInput = {
  client?: InputMaybe<ClientKind>;
  email: Scalars['String']['input'];
  password: Scalars['String']['input'];
};

export type Mutation = {
  __typename?: 'Mutation';
  /** Changes the password, ends every session of the user and starts a new one for this client. */
  changePassword: AuthPayload;
  connectGmail: ConnectGmailPayload;
  /**
   * Deletes the account: revokes the Gmail grant at Google, deletes the vault secret, ends every session and deletes
   * the user's data. Step-up as for linkGoogle. When Google or the vault fails half-way, the account is already
   * signed out everywhere and unusable; the error says `reason: DELETION_PENDING` and the deletion is finished later.
   */
  deleteAccount: Scalars['Boolean']['output'];
  /** Revokes the grant at Google, then deletes it from the vault. */
  disconnectGmail: GmailStatus;
  /**
   * Links the Apple account of this ID token to the signed-in user. Step-up as for linkGoogle. Refused (CONFLICT,
   * reason APPLE_ALREADY_LINKED) while another Apple account is linked, APPLE_ACCOUNT_IN_USE when another user has it.
   */
  linkApple: User;
  /**
   * Links the Google account of this ID token to the signed-in user, so that it can sign in with Google.
   * Step-up: needs a sign-in within REAUTH_MAX_AGE_SECONDS or the current `password` (else REAUTH_REQUIRED).
   * Refused (CONFLICT, reason GOOGLE_ALREADY_LINKED) while another Google account is linked: unlink it first.
   */
  linkGoogle: User;
  login: AuthPayload;
  /** Ends this session (or every session of the user) server-side and clears the refresh cookie. */
  logout: Scalars['Boolean']['output'];
  /**
   * Rotates the refresh token: NATIVE clients pass it in `refreshToken`; WEB clients send the cookie
   * (with the `x-mercurius-operation-name` header or `mercurius-require-preflight` header, from an allowed origin).
   */
  refresh: AuthPayload;
  /** Ends one of the signed-in user's sessions. */
  revokeSession: Scalars['Boolean']['output'];
  /**
   * Signs in with an Apple ID token from an app (ASAuthorizationAppleIDCredential.identityToken): verified (RS256
   * with Apple's keys, iss, aud = one of APPLE_CLIENT_IDS, exp; with `nonce`, the token must carry its SHA-256, as
   * the app sent it to Apple), then the user with that Apple account, or a new one. `name`: the full name Apple gives
   * the app on the first authorization only; it fills an empty name. The email may be a private-relay address.
   * An email that belongs to an existing account that is not linked is refused (CONFLICT, reason ACCOUNT_EXISTS).
   */
  signInWithApple: AuthPayload;
  /**
   * Signs in with a Google ID token from an app (iOS Google Sign-In): verified (signature, iss, aud = one of our
   * client ids, exp), then the user with that Google account, or a new one. An email that belongs to an existing
   * account that is not linked is refused (CONFLICT, reason ACCOUNT_EXISTS): log in and use linkGoogle.
   */
  signInWithGoogle: AuthPayload;
  signUp: AuthPayload;
  /**
   * Unlinks the Apple account: Sign in with Apple stops reaching this user. Step-up as for linkGoogle. Refused
   * (FORBIDDEN, reason PASSWORD_REQUIRED) when the account has neither a password nor Google: it could not sign in.
   */
  unlinkApple: User;
  /**
   * Unlinks the Google account: sign in with Google stops reaching this user. Step-up as for linkGoogle.
   * Refused (FORBIDDEN, reason PASSWORD_REQUIRED) for an account without a password: it could not sign in again.
   */
  unlinkGoogle: User;
};


export type MutationChangePasswordArgs = {
  client?: InputMaybe<ClientKind>;
  input: ChangePasswordInput;
};


export type MutationConnectGmailArgs = {
  input: ConnectGmailInput;
};


export type MutationDeleteAccountArgs = {
  password?: InputMaybe<Scalars['String']['input']>;
};


export type MutationLinkAppleArgs = {
  idToken: Scalars['String']['input'];
  nonce?: InputMaybe<Scalars['String']['input']>;
  password?: InputMaybe<Scalars['String']['input']>;
};


export type MutationLinkGoogleArgs = {
  idToken: Scalars['String']['input'];
  password?: InputMaybe<Scalars['String']['input']>;
};


export type MutationLoginArgs = {
  input: LoginInput;
};


export type MutationLogoutArgs = {
  everywhere?: InputMaybe<Scalars['Boolean']['input']>;
};


export type MutationRefreshArgs = {
  client?: InputMaybe<ClientKind>;
  refreshToken?: InputMaybe<Scalars['String']['input']>;
};


export type MutationRevokeSessionArgs = {
  id: Scalars['ID']['input'];
};


export type MutationSignInWithAppleArgs = {
  client?: InputMaybe<ClientKind>;
  idToken: Scalars['String']['input'];
  name?: InputMaybe<Scalars['String']['input']>;
  nonce?: InputMaybe<Scalars['String']['input']>;
};


export type MutationSignInWithGoogleArgs = {
  client?: InputMaybe<ClientKind>;
  idToken: Scalars['String']['input'];
};


export type MutationSignUpArgs = {
  input: SignUpInput;
};


export type MutationUnlinkAppleArgs = {
  password?: InputMaybe<Scalars['String']['input']>;
};


export type MutationUnlinkGoogleArgs = {
  password?: InputMaybe<Scalars['String']['input']>;
};

export type Query = {
  __typename?: 'Query';
  /** The connected mailbox's profile, fetched live from Gmail with the custody-held token (proves the connection). */
  gmailProfile: GmailProfile;
  /** Where the signed-in user's Gmail connection stands (reads only the database: no vault, no Google call). */
  gmailStatus: GmailStatus;
  /** The signed-in user (from the access token; takes no user id). */
  me: User;
  /** The signed-in user's own security events, newest first (at most `first`, capped at 100). */
  securityEvents: Array<SecurityEvent>;
  /** The signed-in user's active sessions, most recently used first (at most `first`, capped at 100). */
  sessions: Array<Session>;
};


export type QuerySecurityEventsArgs = {
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QuerySessionsArgs = {
  first?: InputMaybe<Scalars['Int']['input']>;
};

/** An entry of the signed-in user's own security log (sign-ins, logouts, linking, failed step-ups, …). */
export type SecurityEvent = {
  __typename?: 'SecurityEvent';
  /** The app backend (registered service client) the event concerns: who was handed a Gmail token on GMAIL_TOKEN_ISSUED. */
  clientName?: Maybe<Scalars['String']['output']>;
  /** ISO-8601 instant. */
  createdAt: Scalars['String']['output'];
  ip?: Maybe<Scalars['String']['output']>;
  /** A stable name such as LOGIN_SUCCEEDED, LOGOUT_EVERYWHERE, GOOGLE_LINKED, REAUTH_FAILED. */
  type: Scalars['String']['output'];
  userAgent?: Maybe<Scalars['String']['output']>;
};

/** A signed-in device or browser: one refresh-token family. */
export type Session = {
  __typename?: 'Session';
  clientKind: ClientKind;
  createdAt: Scalars['String']['output'];
  /** True for the session of the access token making this request. */
  current: Scalars['Boolean']['output'];
  /** Absolute end of the session; it also ends after a period without use. */
  expiresAt: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  ip?: Maybe<Scalars['String']['output']>;
  lastUsedAt: Scalars['String']['output'];
  userAgent?: Maybe<Scalars['String']['output']>;
};

export type SignUpInput = {
  client?: InputMaybe<ClientKind>;
  email: Scalars['String']['input'];
  name?: InputMaybe<Scalars['String']['input']>;
  /** 8 to 128 characters, not a commonly used password. */
  password: Scalars['String']['input'];
};

export type User = {
  __typename?: 'User';
  createdAt: Scalars['String']['output'];
  email: Scalars['String']['output'];
  emailVerified: Scalars['Boolean']['output'];
  /** True when an Apple account is linked (Sign in with Apple works). */
  hasApple: Scalars['Boolean']['output'];
  /** True when a Google account is linked (sign in with Google works). */
  hasGoogle: Scalars['Boolean']['output'];
  /** False for accounts created with Google that never set a password. */
  hasPassword: Scalars['Boolean']['output'];
  id: Scalars['ID']['output'];
  name?: Maybe<Scalars['String']['output']>;
};

export type Warning = {
  __typename?: 'Warning';
  /** e.g. ACCOUNT_SWITCHED */
  code: Scalars['String']['output'];
  message: Scalars['String']['output'];
};



export type ResolverTypeWrapper<T> = Promise<T> | T;


export type ResolverWithResolve<TResult, TParent, TContext, TArgs> = {
  resolve: ResolverFn<TResult, TParent, TContext, TArgs>;
};
export type Resolver<TResult, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = ResolverFn<TResult, TParent, TContext, TArgs> | ResolverWithResolve<TResult, TParent, TContext, TArgs>;

export type ResolverFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => Promise<TResult> | TResult;

export type SubscriptionSubscribeFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => AsyncIterable<TResult> | Promise<AsyncIterable<TResult>>;

export type SubscriptionResolveFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;

export interface SubscriptionSubscriberObject<TResult, TKey extends string, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<{ [key in TKey]: TResult }, TParent, TContext, TArgs>;
  resolve?: SubscriptionResolveFn<TResult, { [key in TKey]: TResult }, TContext, TArgs>;
}

export interface SubscriptionResolverObject<TResult, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<any, TParent, TContext, TArgs>;
  resolve: SubscriptionResolveFn<TResult, any, TContext, TArgs>;
}

export type SubscriptionObject<TResult, TKey extends string, TParent, TContext, TArgs> =
  | SubscriptionSubscriberObject<TResult, TKey, TParent, TContext, TArgs>
  | SubscriptionResolverObject<TResult, TParent, TContext, TArgs>;

export type SubscriptionResolver<TResult, TKey extends string, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> =
  | ((...args: any[]) => SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>)
  | SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>;

export type TypeResolveFn<TTypes, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (
  parent: TParent,
  context: TContext,
  info: GraphQLResolveInfo
) => Maybe<TTypes> | Promise<Maybe<TTypes>>;

export type IsTypeOfResolverFn<T = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (obj: T, context: TContext, info: GraphQLResolveInfo) => boolean | Promise<boolean>;

export type NextResolverFn<T> = () => Promise<T>;

export type DirectiveResolverFn<TResult = Record<PropertyKey, never>, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = (
  next: NextResolverFn<TResult>,
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;





/** Mapping between all available schema types and the resolvers types */
export type ResolversTypes = {
  AuthPayload: ResolverTypeWrapper<IssuedTokens>;
  Boolean: ResolverTypeWrapper<Scalars['Boolean']['output']>;
  ChangePasswordInput: ChangePasswordInput;
  ClientKind: ClientKind;
  ConnectGmailInput: ConnectGmailInput;
  ConnectGmailPayload: ResolverTypeWrapper<Omit<ConnectGmailPayload, 'status'> & { status: ResolversTypes['GmailStatus'] }>;
  GmailConnectionState: GmailConnectionState;
  GmailProfile: ResolverTypeWrapper<GmailProfile>;
  GmailStatus: ResolverTypeWrapper<GmailStatusView>;
  ID: ResolverTypeWrapper<Scalars['ID']['output']>;
  Int: ResolverTypeWrapper<Scalars['Int']['output']>;
  LoginInput: LoginInput;
  Mutation: ResolverTypeWrapper<Record<PropertyKey, never>>;
  Query: ResolverTypeWrapper<Record<PropertyKey, never>>;
  SecurityEvent: ResolverTypeWrapper<SecurityEventView>;
  Session: ResolverTypeWrapper<SessionModel>;
  SignUpInput: SignUpInput;
  String: ResolverTypeWrapper<Scalars['String']['output']>;
  User: ResolverTypeWrapper<UserView>;
  Warning: ResolverTypeWrapper<Warning>;
};

/** Mapping between all available schema types and the resolvers parents */
export type ResolversParentTypes = {
  AuthPayload: IssuedTokens;
  Boolean: Scalars['Boolean']['output'];
  ChangePasswordInput: ChangePasswordInput;
  ConnectGmailInput: ConnectGmailInput;
  ConnectGmailPayload: Omit<ConnectGmailPayload, 'status'> & { status: ResolversParentTypes['GmailStatus'] };
  GmailProfile: GmailProfile;
  GmailStatus: GmailStatusView;
  ID: Scalars['ID']['output'];
  Int: Scalars['Int']['output'];
  LoginInput: LoginInput;
  Mutation: Record<PropertyKey, never>;
  Query: Record<PropertyKey, never>;
  SecurityEvent: SecurityEventView;
  Session: SessionModel;
  SignUpInput: SignUpInput;
  String: Scalars['String']['output'];
  User: UserView;
  Warning: Warning;
};

export type AuthPayloadResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['AuthPayload'] = ResolversParentTypes['AuthPayload']> = {
  accessToken?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  accessTokenExpiresAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  refreshToken?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  sessionId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  user?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
};

export type ConnectGmailPayloadResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['ConnectGmailPayload'] = ResolversParentTypes['ConnectGmailPayload']> = {
  status?: Resolver<ResolversTypes['GmailStatus'], ParentType, ContextType>;
  warnings?: Resolver<Array<ResolversTypes['Warning']>, ParentType, ContextType>;
};

export type GmailProfileResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['GmailProfile'] = ResolversParentTypes['GmailProfile']> = {
  emailAddress?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  historyId?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  messagesTotal?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  threadsTotal?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
};

export type GmailStatusResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['GmailStatus'] = ResolversParentTypes['GmailStatus']> = {
  accessTokenExpiresAt?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  connectedAt?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  googleEmail?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  grantedScopes?: Resolver<Array<ResolversTypes['String']>, ParentType, ContextType>;
  lastRefreshedAt?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  missingScopes?: Resolver<Array<ResolversTypes['String']>, ParentType, ContextType>;
  state?: Resolver<ResolversTypes['GmailConnectionState'], ParentType, ContextType>;
};

export type MutationResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['Mutation'] = ResolversParentTypes['Mutation']> = {
  changePassword?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationChangePasswordArgs, 'client' | 'input'>>;
  connectGmail?: Resolver<ResolversTypes['ConnectGmailPayload'], ParentType, ContextType, RequireFields<MutationConnectGmailArgs, 'input'>>;
  deleteAccount?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, Partial<MutationDeleteAccountArgs>>;
  disconnectGmail?: Resolver<ResolversTypes['GmailStatus'], ParentType, ContextType>;
  linkApple?: Resolver<ResolversTypes['User'], ParentType, ContextType, RequireFields<MutationLinkAppleArgs, 'idToken'>>;
  linkGoogle?: Resolver<ResolversTypes['User'], ParentType, ContextType, RequireFields<MutationLinkGoogleArgs, 'idToken'>>;
  login?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationLoginArgs, 'input'>>;
  logout?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationLogoutArgs, 'everywhere'>>;
  refresh?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationRefreshArgs, 'client'>>;
  revokeSession?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationRevokeSessionArgs, 'id'>>;
  signInWithApple?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationSignInWithAppleArgs, 'client' | 'idToken'>>;
  signInWithGoogle?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationSignInWithGoogleArgs, 'client' | 'idToken'>>;
  signUp?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationSignUpArgs, 'input'>>;
  unlinkApple?: Resolver<ResolversTypes['User'], ParentType, ContextType, Partial<MutationUnlinkAppleArgs>>;
  unlinkGoogle?: Resolver<ResolversTypes['User'], ParentType, ContextType, Partial<MutationUnlinkGoogleArgs>>;
};

export type QueryResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query']> = {
  gmailProfile?: Resolver<ResolversTypes['GmailProfile'], ParentType, ContextType>;
  gmailStatus?: Resolver<ResolversTypes['GmailStatus'], ParentType, ContextType>;
  me?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
  securityEvents?: Resolver<Array<ResolversTypes['SecurityEvent']>, ParentType, ContextType, RequireFields<QuerySecurityEventsArgs, 'first'>>;
  sessions?: Resolver<Array<ResolversTypes['Session']>, ParentType, ContextType, RequireFields<QuerySessionsArgs, 'first'>>;
};

export type SecurityEventResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['SecurityEvent'] = ResolversParentTypes['SecurityEvent']> = {
  clientName?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  ip?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  type?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  userAgent?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type SessionResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['Session'] = ResolversParentTypes['Session']> = {
  clientKind?: Resolver<ResolversTypes['ClientKind'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  current?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  expiresAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  ip?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  lastUsedAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  userAgent?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type UserResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['User'] = ResolversParentTypes['User']> = {
  createdAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  email?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  emailVerified?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  hasApple?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  hasGoogle?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  hasPassword?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  name?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type WarningResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['Warning'] = ResolversParentTypes['Warning']> = {
  code?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  message?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type Resolvers<ContextType = GraphQLContext> = {
  AuthPayload?: AuthPayloadResolvers<ContextType>;
  ConnectGmailPayload?: ConnectGmailPayloadResolvers<ContextType>;
  GmailProfile?: GmailProfileResolvers<ContextType>;
  GmailStatus?: GmailStatusResolvers<ContextType>;
  Mutation?: MutationResolvers<ContextType>;
  Query?: QueryResolvers<ContextType>;
  SecurityEvent?: SecurityEventResolvers<ContextType>;
  Session?: SessionResolvers<ContextType>;
  User?: UserResolvers<ContextType>;
  Warning?: WarningResolvers<ContextType>;
};

