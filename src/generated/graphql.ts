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
  /**
   * After a password login, NATIVE clients only: this device's token (keep it in the Keychain and send it as
   * `LoginInput.deviceToken`): its logins are counted on their own, so strangers' failed attempts never lock this
   * device out (OWASP device cookies). WEB clients get it as an HttpOnly cookie instead; null otherwise.
   */
  deviceToken?: Maybe<Scalars['String']['output']>;
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
  /**
   * The current password, for replacing a connected Google account with another one when the last sign-in is older
   * than REAUTH_MAX_AGE_SECONDS (otherwise REAUTH_REQUIRED). Not needed for a first connect or the same account.
   */
  password?: InputMaybe<Scalars['String']['input']>;
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
  /** NATIVE: the deviceToken a previous login of this account returned (WEB sends its cookie instead). */
  deviceToken?: InputMaybe<Scalars['String']['input']>;
  email: Scalars['String']['input'];
  password: Scalars['String']['input'];
};

export type Mutation = {
  __typename?: 'Mutation';
  /**
   * Lets the app backend `clientId` get this user's Gmail access token (with a service token, or by user id for a
   * worker). Step-up exactly as linkGoogle: a sign-in within REAUTH_MAX_AGE_SECONDS or the current `password`
   * (else REAUTH_REQUIRED). Idempotent.
   */
  authorizeService: ServiceAuthorization;
  /** Changes the password, ends every session of the user and starts a new one for this client. */
  changePassword: AuthPayload;
  /**
   * Takes custody of a Gmail grant. Replacing the connected Google account with another needs a recent sign-in or
   * `password` (REAUTH_REQUIRED). A grant with Gmail scopes beyond GMAIL_SCOPES is refused (FORBIDDEN, reason
   * SCOPE_TOO_BROAD). Every refused grant is revoked at Google, unless it is the one held.
   */
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
  /**
   * Mails a password-reset link to the address if an account has it. Always true, whether or not one does (and it
   * takes the same work either way), or RATE_LIMITED per address and per client IP.
   */
  requestPasswordReset: Scalars['Boolean']['output'];
  /** Mails a new verification link to the signed-in user; false when the address is verified already. Rate-limited. */
  resendVerificationEmail: Scalars['Boolean']['output'];
  /**
   * Sets a new password with the token of a reset link (single use, 30 minutes), verifies the address, ends every
   * session of the user and signs this client in. The same errors as verifyEmail, and the password policy's.
   */
  resetPassword: AuthPayload;
  /** Withdraws that consent: the client's next exchange for this user is refused. False when there was none. */
  revokeServiceAuthorization: Scalars['Boolean']['output'];
  /** Ends one of the signed-in user's sessions. */
  revokeSession: Scalars['Boolean']['output'];
  /**
   * A service token for the app backend `clientId` (see ServiceToken). Refused (FORBIDDEN, reason
   * SERVICE_NOT_AUTHORIZED) unless the user authorized that client with authorizeService (or the operator created it
   * with --all-users); NOT_FOUND for an unknown or revoked client.
   */
  serviceToken: ServiceToken;
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
  /**
   * Confirms the address with the token of the verification link (`signUp` mails it; a native app takes `token` from
   * the link's query). Single use, valid EMAIL_TOKEN_TTL_SECONDS (24 h); needs no session. BAD_USER_INPUT with reason
   * EMAIL_TOKEN_INVALID (unknown, used, or for an address the account no longer has) or EMAIL_TOKEN_EXPIRED.
   */
  verifyEmail: User;
};


export type MutationAuthorizeServiceArgs = {
  clientId: Scalars['ID']['input'];
  password?: InputMaybe<Scalars['String']['input']>;
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


export type MutationRequestPasswordResetArgs = {
  email: Scalars['String']['input'];
};


export type MutationResetPasswordArgs = {
  client?: InputMaybe<ClientKind>;
  newPassword: Scalars['String']['input'];
  token: Scalars['String']['input'];
};


export type MutationRevokeServiceAuthorizationArgs = {
  clientId: Scalars['ID']['input'];
};


export type MutationRevokeSessionArgs = {
  id: Scalars['ID']['input'];
};


export type MutationServiceTokenArgs = {
  clientId: Scalars['ID']['input'];
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


export type MutationVerifyEmailArgs = {
  token: Scalars['String']['input'];
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
  /** The app backends the signed-in user has authorized (revoked clients are not listed). */
  serviceAuthorizations: Array<ServiceAuthorization>;
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
  /** How many times it happened: 1, except GMAIL_TOKEN_ISSUED, one entry per client and hour (from `createdAt`) with the number of tokens issued. */
  count: Scalars['Int']['output'];
  /** ISO-8601 instant. */
  createdAt: Scalars['String']['output'];
  ip?: Maybe<Scalars['String']['output']>;
  /** A stable name such as LOGIN_SUCCEEDED, LOGOUT_EVERYWHERE, GOOGLE_LINKED, REAUTH_FAILED. */
  type: Scalars['String']['output'];
  userAgent?: Maybe<Scalars['String']['output']>;
};

/** The signed-in user's consent that an app backend may get their Gmail access token. */
export type ServiceAuthorization = {
  __typename?: 'ServiceAuthorization';
  client: ServiceClient;
  /** ISO-8601 instant. */
  createdAt: Scalars['String']['output'];
  /** ISO-8601 instant of the backend's last exchange for this user (updated at most hourly); null if never. */
  lastUsedAt?: Maybe<Scalars['String']['output']>;
};

/** A registered app backend (service client) as its users see it: the app's server or worker. */
export type ServiceClient = {
  __typename?: 'ServiceClient';
  /** The client id (igc_…) the backend authenticates with at POST /oauth/token. */
  id: Scalars['ID']['output'];
  name: Scalars['String']['output'];
};

/**
 * A short-lived token for one app backend: hand it to that backend, which exchanges it at POST /oauth/token
 * (subject_token_type urn:ietf:params:oauth:token-type:access_token) for the user's Gmail access token. Valid at most
 * 5 minutes, only for that client, only while this session lives; GraphQL refuses it (UNAUTHENTICATED).
 */
export type ServiceToken = {
  __typename?: 'ServiceToken';
  client: ServiceClient;
  /** ISO-8601 instant. */
  expiresAt: Scalars['String']['output'];
  token: Scalars['String']['output'];
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
  ServiceAuthorization: ResolverTypeWrapper<ServiceAuthorization>;
  ServiceClient: ResolverTypeWrapper<ServiceClient>;
  ServiceToken: ResolverTypeWrapper<ServiceToken>;
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
  ServiceAuthorization: ServiceAuthorization;
  ServiceClient: ServiceClient;
  ServiceToken: ServiceToken;
  Session: SessionModel;
  SignUpInput: SignUpInput;
  String: Scalars['String']['output'];
  User: UserView;
  Warning: Warning;
};

export type PublicDirectiveArgs = { };

export type PublicDirectiveResolver<Result, Parent, ContextType = GraphQLContext, Args = PublicDirectiveArgs> = DirectiveResolverFn<Result, Parent, ContextType, Args>;

export type AuthPayloadResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['AuthPayload'] = ResolversParentTypes['AuthPayload']> = {
  accessToken?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  accessTokenExpiresAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  deviceToken?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
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
  authorizeService?: Resolver<ResolversTypes['ServiceAuthorization'], ParentType, ContextType, RequireFields<MutationAuthorizeServiceArgs, 'clientId'>>;
  changePassword?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationChangePasswordArgs, 'client' | 'input'>>;
  connectGmail?: Resolver<ResolversTypes['ConnectGmailPayload'], ParentType, ContextType, RequireFields<MutationConnectGmailArgs, 'input'>>;
  deleteAccount?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, Partial<MutationDeleteAccountArgs>>;
  disconnectGmail?: Resolver<ResolversTypes['GmailStatus'], ParentType, ContextType>;
  linkApple?: Resolver<ResolversTypes['User'], ParentType, ContextType, RequireFields<MutationLinkAppleArgs, 'idToken'>>;
  linkGoogle?: Resolver<ResolversTypes['User'], ParentType, ContextType, RequireFields<MutationLinkGoogleArgs, 'idToken'>>;
  login?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationLoginArgs, 'input'>>;
  logout?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationLogoutArgs, 'everywhere'>>;
  refresh?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationRefreshArgs, 'client'>>;
  requestPasswordReset?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationRequestPasswordResetArgs, 'email'>>;
  resendVerificationEmail?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  resetPassword?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationResetPasswordArgs, 'client' | 'newPassword' | 'token'>>;
  revokeServiceAuthorization?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationRevokeServiceAuthorizationArgs, 'clientId'>>;
  revokeSession?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationRevokeSessionArgs, 'id'>>;
  serviceToken?: Resolver<ResolversTypes['ServiceToken'], ParentType, ContextType, RequireFields<MutationServiceTokenArgs, 'clientId'>>;
  signInWithApple?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationSignInWithAppleArgs, 'client' | 'idToken'>>;
  signInWithGoogle?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationSignInWithGoogleArgs, 'client' | 'idToken'>>;
  signUp?: Resolver<ResolversTypes['AuthPayload'], ParentType, ContextType, RequireFields<MutationSignUpArgs, 'input'>>;
  unlinkApple?: Resolver<ResolversTypes['User'], ParentType, ContextType, Partial<MutationUnlinkAppleArgs>>;
  unlinkGoogle?: Resolver<ResolversTypes['User'], ParentType, ContextType, Partial<MutationUnlinkGoogleArgs>>;
  verifyEmail?: Resolver<ResolversTypes['User'], ParentType, ContextType, RequireFields<MutationVerifyEmailArgs, 'token'>>;
};

export type QueryResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query']> = {
  gmailProfile?: Resolver<ResolversTypes['GmailProfile'], ParentType, ContextType>;
  gmailStatus?: Resolver<ResolversTypes['GmailStatus'], ParentType, ContextType>;
  me?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
  securityEvents?: Resolver<Array<ResolversTypes['SecurityEvent']>, ParentType, ContextType, RequireFields<QuerySecurityEventsArgs, 'first'>>;
  serviceAuthorizations?: Resolver<Array<ResolversTypes['ServiceAuthorization']>, ParentType, ContextType>;
  sessions?: Resolver<Array<ResolversTypes['Session']>, ParentType, ContextType, RequireFields<QuerySessionsArgs, 'first'>>;
};

export type SecurityEventResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['SecurityEvent'] = ResolversParentTypes['SecurityEvent']> = {
  clientName?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  count?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  ip?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  type?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  userAgent?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type ServiceAuthorizationResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['ServiceAuthorization'] = ResolversParentTypes['ServiceAuthorization']> = {
  client?: Resolver<ResolversTypes['ServiceClient'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  lastUsedAt?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type ServiceClientResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['ServiceClient'] = ResolversParentTypes['ServiceClient']> = {
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  name?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type ServiceTokenResolvers<ContextType = GraphQLContext, ParentType extends ResolversParentTypes['ServiceToken'] = ResolversParentTypes['ServiceToken']> = {
  client?: Resolver<ResolversTypes['ServiceClient'], ParentType, ContextType>;
  expiresAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  token?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
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
  ServiceAuthorization?: ServiceAuthorizationResolvers<ContextType>;
  ServiceClient?: ServiceClientResolvers<ContextType>;
  ServiceToken?: ServiceTokenResolvers<ContextType>;
  Session?: SessionResolvers<ContextType>;
  User?: UserResolvers<ContextType>;
  Warning?: WarningResolvers<ContextType>;
};

export type DirectiveResolvers<ContextType = GraphQLContext> = {
  public?: PublicDirectiveResolver<any, any, ContextType>;
};
