/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type ChangePasswordInput = {
  currentPassword: string;
  newPassword: string;
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
  accessToken?: string | null | undefined;
  expiresIn?: number | null | undefined;
  idToken?: string | null | undefined;
  /**
   * The current password, for replacing a connected Google account with another one when the last sign-in is older
   * than REAUTH_MAX_AGE_SECONDS (otherwise REAUTH_REQUIRED). Not needed for a first connect or the same account.
   */
  password?: string | null | undefined;
  refreshToken?: string | null | undefined;
  scope?: string | null | undefined;
  serverAuthCode?: string | null | undefined;
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

export type LoginInput = {
  client?: ClientKind | null | undefined;
  /** NATIVE: the deviceToken a previous login of this account returned (WEB sends its cookie instead). */
  deviceToken?: string | null | undefined;
  email: string;
  password: string;
};

export type SignUpInput = {
  client?: ClientKind | null | undefined;
  email: string;
  name?: string | null | undefined;
  /** 8 to 128 characters, not a commonly used password. */
  password: string;
};

export type LinkGoogleMutationVariables = Exact<{
  idToken: string;
  password?: string | null | undefined;
}>;


export type LinkGoogleMutation = { linkGoogle: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } };

export type UnlinkGoogleMutationVariables = Exact<{
  password?: string | null | undefined;
}>;


export type UnlinkGoogleMutation = { unlinkGoogle: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } };

export type DeleteAccountMutationVariables = Exact<{
  password?: string | null | undefined;
}>;


export type DeleteAccountMutation = { deleteAccount: boolean };

export type SecurityEventsQueryVariables = Exact<{
  first?: number | null | undefined;
}>;


export type SecurityEventsQuery = { securityEvents: Array<{ type: string, createdAt: string, ip: string | null, userAgent: string | null, clientName: string | null, count: number }> };

export type LinkAppleMutationVariables = Exact<{
  idToken: string;
  nonce?: string | null | undefined;
  password?: string | null | undefined;
}>;


export type LinkAppleMutation = { linkApple: { hasApple: boolean, id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } };

export type UnlinkAppleMutationVariables = Exact<{
  password?: string | null | undefined;
}>;


export type UnlinkAppleMutation = { unlinkApple: { hasApple: boolean, id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } };

export type VerifyEmailMutationVariables = Exact<{
  token: string;
}>;


export type VerifyEmailMutation = { verifyEmail: { id: string, email: string, emailVerified: boolean } };

export type ResendVerificationEmailMutationVariables = Exact<{ [key: string]: never; }>;


export type ResendVerificationEmailMutation = { resendVerificationEmail: boolean };

export type RequestPasswordResetMutationVariables = Exact<{
  email: string;
}>;


export type RequestPasswordResetMutation = { requestPasswordReset: boolean };

export type ResetPasswordMutationVariables = Exact<{
  token: string;
  newPassword: string;
  client?: ClientKind | null | undefined;
}>;


export type ResetPasswordMutation = { resetPassword: { accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } } };

export type EmailStatusQueryVariables = Exact<{ [key: string]: never; }>;


export type EmailStatusQuery = { me: { id: string, email: string, emailVerified: boolean } };

export type GmailStatusFieldsFragment = { state: GmailConnectionState, googleEmail: string | null, grantedScopes: Array<string>, missingScopes: Array<string>, accessTokenExpiresAt: string | null, connectedAt: string | null, lastRefreshedAt: string | null };

export type GmailStatusQueryVariables = Exact<{ [key: string]: never; }>;


export type GmailStatusQuery = { gmailStatus: { state: GmailConnectionState, googleEmail: string | null, grantedScopes: Array<string>, missingScopes: Array<string>, accessTokenExpiresAt: string | null, connectedAt: string | null, lastRefreshedAt: string | null } };

export type ConnectGmailMutationVariables = Exact<{
  input: ConnectGmailInput;
}>;


export type ConnectGmailMutation = { connectGmail: { status: { state: GmailConnectionState, googleEmail: string | null, grantedScopes: Array<string>, missingScopes: Array<string>, accessTokenExpiresAt: string | null, connectedAt: string | null, lastRefreshedAt: string | null }, warnings: Array<{ code: string, message: string }> } };

export type DisconnectGmailMutationVariables = Exact<{ [key: string]: never; }>;


export type DisconnectGmailMutation = { disconnectGmail: { state: GmailConnectionState, googleEmail: string | null, grantedScopes: Array<string>, missingScopes: Array<string>, accessTokenExpiresAt: string | null, connectedAt: string | null, lastRefreshedAt: string | null } };

export type GmailProfileQueryVariables = Exact<{ [key: string]: never; }>;


export type GmailProfileQuery = { gmailProfile: { emailAddress: string, messagesTotal: number, threadsTotal: number, historyId: string } };

export type ServiceTokenMutationVariables = Exact<{
  clientId: string | number;
}>;


export type ServiceTokenMutation = { serviceToken: { token: string, expiresAt: string, client: { id: string, name: string } } };

export type AuthorizeServiceMutationVariables = Exact<{
  clientId: string | number;
  password?: string | null | undefined;
}>;


export type AuthorizeServiceMutation = { authorizeService: { createdAt: string, lastUsedAt: string | null, client: { id: string, name: string } } };

export type RevokeServiceAuthorizationMutationVariables = Exact<{
  clientId: string | number;
}>;


export type RevokeServiceAuthorizationMutation = { revokeServiceAuthorization: boolean };

export type ServiceAuthorizationsQueryVariables = Exact<{ [key: string]: never; }>;


export type ServiceAuthorizationsQuery = { serviceAuthorizations: Array<{ createdAt: string, lastUsedAt: string | null, client: { id: string, name: string } }> };

export type SessionUserFragment = { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean };

export type TokensFragment = { accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } };

export type SignUpMutationVariables = Exact<{
  input: SignUpInput;
}>;


export type SignUpMutation = { signUp: { accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } } };

export type LoginMutationVariables = Exact<{
  input: LoginInput;
}>;


export type LoginMutation = { login: { deviceToken: string | null, accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } } };

export type RefreshMutationVariables = Exact<{
  refreshToken?: string | null | undefined;
  client?: ClientKind | null | undefined;
}>;


export type RefreshMutation = { refresh: { accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } } };

export type LogoutMutationVariables = Exact<{
  everywhere?: boolean | null | undefined;
}>;


export type LogoutMutation = { logout: boolean };

export type SignInWithAppleMutationVariables = Exact<{
  idToken: string;
  nonce?: string | null | undefined;
  name?: string | null | undefined;
  client?: ClientKind | null | undefined;
}>;


export type SignInWithAppleMutation = { signInWithApple: { accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } } };

export type SignInWithGoogleMutationVariables = Exact<{
  idToken: string;
  client?: ClientKind | null | undefined;
}>;


export type SignInWithGoogleMutation = { signInWithGoogle: { accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } } };

export type MeQueryVariables = Exact<{ [key: string]: never; }>;


export type MeQuery = { me: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } };

export type ChangePasswordMutationVariables = Exact<{
  input: ChangePasswordInput;
  client?: ClientKind | null | undefined;
}>;


export type ChangePasswordMutation = { changePassword: { accessToken: string, accessTokenExpiresAt: string, refreshToken: string | null, sessionId: string, user: { id: string, email: string, name: string | null, hasPassword: boolean, hasGoogle: boolean } } };

export type SessionsQueryVariables = Exact<{
  first?: number | null | undefined;
}>;


export type SessionsQuery = { sessions: Array<{ id: string, clientKind: ClientKind, userAgent: string | null, ip: string | null, createdAt: string, lastUsedAt: string, expiresAt: string, current: boolean }> };

export type RevokeSessionMutationVariables = Exact<{
  id: string | number;
}>;


export type RevokeSessionMutation = { revokeSession: boolean };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const GmailStatusFieldsFragmentDoc = new TypedDocumentString(`
    fragment GmailStatusFields on GmailStatus {
  state
  googleEmail
  grantedScopes
  missingScopes
  accessTokenExpiresAt
  connectedAt
  lastRefreshedAt
}
    `, {"fragmentName":"GmailStatusFields"}) as unknown as TypedDocumentString<GmailStatusFieldsFragment, unknown>;
export const SessionUserFragmentDoc = new TypedDocumentString(`
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
    `, {"fragmentName":"SessionUser"}) as unknown as TypedDocumentString<SessionUserFragment, unknown>;
export const TokensFragmentDoc = new TypedDocumentString(`
    fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}`, {"fragmentName":"Tokens"}) as unknown as TypedDocumentString<TokensFragment, unknown>;
export const LinkGoogleDocument = new TypedDocumentString(`
    mutation LinkGoogle($idToken: String!, $password: String) {
  linkGoogle(idToken: $idToken, password: $password) {
    ...SessionUser
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}`) as unknown as TypedDocumentString<LinkGoogleMutation, LinkGoogleMutationVariables>;
export const UnlinkGoogleDocument = new TypedDocumentString(`
    mutation UnlinkGoogle($password: String) {
  unlinkGoogle(password: $password) {
    ...SessionUser
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}`) as unknown as TypedDocumentString<UnlinkGoogleMutation, UnlinkGoogleMutationVariables>;
export const DeleteAccountDocument = new TypedDocumentString(`
    mutation DeleteAccount($password: String) {
  deleteAccount(password: $password)
}
    `) as unknown as TypedDocumentString<DeleteAccountMutation, DeleteAccountMutationVariables>;
export const SecurityEventsDocument = new TypedDocumentString(`
    query SecurityEvents($first: Int) {
  securityEvents(first: $first) {
    type
    createdAt
    ip
    userAgent
    clientName
    count
  }
}
    `) as unknown as TypedDocumentString<SecurityEventsQuery, SecurityEventsQueryVariables>;
export const LinkAppleDocument = new TypedDocumentString(`
    mutation LinkApple($idToken: String!, $nonce: String, $password: String) {
  linkApple(idToken: $idToken, nonce: $nonce, password: $password) {
    ...SessionUser
    hasApple
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}`) as unknown as TypedDocumentString<LinkAppleMutation, LinkAppleMutationVariables>;
export const UnlinkAppleDocument = new TypedDocumentString(`
    mutation UnlinkApple($password: String) {
  unlinkApple(password: $password) {
    ...SessionUser
    hasApple
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}`) as unknown as TypedDocumentString<UnlinkAppleMutation, UnlinkAppleMutationVariables>;
export const VerifyEmailDocument = new TypedDocumentString(`
    mutation VerifyEmail($token: String!) {
  verifyEmail(token: $token) {
    id
    email
    emailVerified
  }
}
    `) as unknown as TypedDocumentString<VerifyEmailMutation, VerifyEmailMutationVariables>;
export const ResendVerificationEmailDocument = new TypedDocumentString(`
    mutation ResendVerificationEmail {
  resendVerificationEmail
}
    `) as unknown as TypedDocumentString<ResendVerificationEmailMutation, ResendVerificationEmailMutationVariables>;
export const RequestPasswordResetDocument = new TypedDocumentString(`
    mutation RequestPasswordReset($email: String!) {
  requestPasswordReset(email: $email)
}
    `) as unknown as TypedDocumentString<RequestPasswordResetMutation, RequestPasswordResetMutationVariables>;
export const ResetPasswordDocument = new TypedDocumentString(`
    mutation ResetPassword($token: String!, $newPassword: String!, $client: ClientKind) {
  resetPassword(token: $token, newPassword: $newPassword, client: $client) {
    ...Tokens
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}`) as unknown as TypedDocumentString<ResetPasswordMutation, ResetPasswordMutationVariables>;
export const EmailStatusDocument = new TypedDocumentString(`
    query EmailStatus {
  me {
    id
    email
    emailVerified
  }
}
    `) as unknown as TypedDocumentString<EmailStatusQuery, EmailStatusQueryVariables>;
export const GmailStatusDocument = new TypedDocumentString(`
    query GmailStatus {
  gmailStatus {
    ...GmailStatusFields
  }
}
    fragment GmailStatusFields on GmailStatus {
  state
  googleEmail
  grantedScopes
  missingScopes
  accessTokenExpiresAt
  connectedAt
  lastRefreshedAt
}`) as unknown as TypedDocumentString<GmailStatusQuery, GmailStatusQueryVariables>;
export const ConnectGmailDocument = new TypedDocumentString(`
    mutation ConnectGmail($input: ConnectGmailInput!) {
  connectGmail(input: $input) {
    status {
      ...GmailStatusFields
    }
    warnings {
      code
      message
    }
  }
}
    fragment GmailStatusFields on GmailStatus {
  state
  googleEmail
  grantedScopes
  missingScopes
  accessTokenExpiresAt
  connectedAt
  lastRefreshedAt
}`) as unknown as TypedDocumentString<ConnectGmailMutation, ConnectGmailMutationVariables>;
export const DisconnectGmailDocument = new TypedDocumentString(`
    mutation DisconnectGmail {
  disconnectGmail {
    ...GmailStatusFields
  }
}
    fragment GmailStatusFields on GmailStatus {
  state
  googleEmail
  grantedScopes
  missingScopes
  accessTokenExpiresAt
  connectedAt
  lastRefreshedAt
}`) as unknown as TypedDocumentString<DisconnectGmailMutation, DisconnectGmailMutationVariables>;
export const GmailProfileDocument = new TypedDocumentString(`
    query GmailProfile {
  gmailProfile {
    emailAddress
    messagesTotal
    threadsTotal
    historyId
  }
}
    `) as unknown as TypedDocumentString<GmailProfileQuery, GmailProfileQueryVariables>;
export const ServiceTokenDocument = new TypedDocumentString(`
    mutation ServiceToken($clientId: ID!) {
  serviceToken(clientId: $clientId) {
    token
    expiresAt
    client {
      id
      name
    }
  }
}
    `) as unknown as TypedDocumentString<ServiceTokenMutation, ServiceTokenMutationVariables>;
export const AuthorizeServiceDocument = new TypedDocumentString(`
    mutation AuthorizeService($clientId: ID!, $password: String) {
  authorizeService(clientId: $clientId, password: $password) {
    client {
      id
      name
    }
    createdAt
    lastUsedAt
  }
}
    `) as unknown as TypedDocumentString<AuthorizeServiceMutation, AuthorizeServiceMutationVariables>;
export const RevokeServiceAuthorizationDocument = new TypedDocumentString(`
    mutation RevokeServiceAuthorization($clientId: ID!) {
  revokeServiceAuthorization(clientId: $clientId)
}
    `) as unknown as TypedDocumentString<RevokeServiceAuthorizationMutation, RevokeServiceAuthorizationMutationVariables>;
export const ServiceAuthorizationsDocument = new TypedDocumentString(`
    query ServiceAuthorizations {
  serviceAuthorizations {
    client {
      id
      name
    }
    createdAt
    lastUsedAt
  }
}
    `) as unknown as TypedDocumentString<ServiceAuthorizationsQuery, ServiceAuthorizationsQueryVariables>;
export const SignUpDocument = new TypedDocumentString(`
    mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    ...Tokens
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}`) as unknown as TypedDocumentString<SignUpMutation, SignUpMutationVariables>;
export const LoginDocument = new TypedDocumentString(`
    mutation Login($input: LoginInput!) {
  login(input: $input) {
    ...Tokens
    deviceToken
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}`) as unknown as TypedDocumentString<LoginMutation, LoginMutationVariables>;
export const RefreshDocument = new TypedDocumentString(`
    mutation Refresh($refreshToken: String, $client: ClientKind) {
  refresh(refreshToken: $refreshToken, client: $client) {
    ...Tokens
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}`) as unknown as TypedDocumentString<RefreshMutation, RefreshMutationVariables>;
export const LogoutDocument = new TypedDocumentString(`
    mutation Logout($everywhere: Boolean) {
  logout(everywhere: $everywhere)
}
    `) as unknown as TypedDocumentString<LogoutMutation, LogoutMutationVariables>;
export const SignInWithAppleDocument = new TypedDocumentString(`
    mutation SignInWithApple($idToken: String!, $nonce: String, $name: String, $client: ClientKind) {
  signInWithApple(idToken: $idToken, nonce: $nonce, name: $name, client: $client) {
    ...Tokens
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}`) as unknown as TypedDocumentString<SignInWithAppleMutation, SignInWithAppleMutationVariables>;
export const SignInWithGoogleDocument = new TypedDocumentString(`
    mutation SignInWithGoogle($idToken: String!, $client: ClientKind) {
  signInWithGoogle(idToken: $idToken, client: $client) {
    ...Tokens
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}`) as unknown as TypedDocumentString<SignInWithGoogleMutation, SignInWithGoogleMutationVariables>;
export const MeDocument = new TypedDocumentString(`
    query Me {
  me {
    ...SessionUser
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}`) as unknown as TypedDocumentString<MeQuery, MeQueryVariables>;
export const ChangePasswordDocument = new TypedDocumentString(`
    mutation ChangePassword($input: ChangePasswordInput!, $client: ClientKind) {
  changePassword(input: $input, client: $client) {
    ...Tokens
  }
}
    fragment SessionUser on User {
  id
  email
  name
  hasPassword
  hasGoogle
}
fragment Tokens on AuthPayload {
  accessToken
  accessTokenExpiresAt
  refreshToken
  sessionId
  user {
    ...SessionUser
  }
}`) as unknown as TypedDocumentString<ChangePasswordMutation, ChangePasswordMutationVariables>;
export const SessionsDocument = new TypedDocumentString(`
    query Sessions($first: Int) {
  sessions(first: $first) {
    id
    clientKind
    userAgent
    ip
    createdAt
    lastUsedAt
    expiresAt
    current
  }
}
    `) as unknown as TypedDocumentString<SessionsQuery, SessionsQueryVariables>;
export const RevokeSessionDocument = new TypedDocumentString(`
    mutation RevokeSession($id: ID!) {
  revokeSession(id: $id)
}
    `) as unknown as TypedDocumentString<RevokeSessionMutation, RevokeSessionMutationVariables>;