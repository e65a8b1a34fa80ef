// A real OpenID provider for the SSO tests: oidc-provider (OpenID-certified) on loopback, with one
// confidential client. Interactions complete by themselves: the account is the `login_hint` of the
// authorization request (default "alice"), so tests need no HTML forms.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated),
// KEY_SET (0 or 1: which signing key set to publish), and to mint bad ID tokens on purpose:
// ID_TOKEN_EXPIRED=1 (already expired), ID_TOKEN_AUDIENCE=<another client id>, ID_TOKEN_ALG=HS256
// (signed with the client secret, and listed in discovery as Keycloak does) or
// EMAIL_VERIFIED_STRING=1 (`email_verified: "true"`, a claim of the wrong type).
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

function rsaKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}

const configuration = {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: process.env.REDIRECT_URIS.split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: process.env.ID_TOKEN_ALG || 'RS256',
  }],
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const verified = !id.startsWith('unverified');
        const emailVerified = process.env.EMAIL_VERIFIED_STRING === '1' ? String(verified) : verified;
        return { sub: id, email: `${id}@example.com`, email_verified: emailVerified, name: id, preferred_username: id };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  ttl: { IdToken: 3600, Interaction: 600, Session: 600, Grant: 600 },
  jwks: { keys: [rsaKey(`key-${process.env.KEY_SET || 0}`)] },
  cookies: { keys: ['rustchat-test-cookie-key'] },
  conformIdTokenClaims: false,
};

const provider = new Provider(issuer, configuration);

// Bad ID tokens for the relying party's negative tests.
if (process.env.ID_TOKEN_EXPIRED === '1') {
  provider.IdToken.expiresIn = () => -3600;
}
if (process.env.ID_TOKEN_AUDIENCE) {
  const issue = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = function issueForSomeoneElse(options) {
    const fake = Object.create(this.client, { clientId: { value: process.env.ID_TOKEN_AUDIENCE } });
    Object.defineProperty(this, 'client', { value: fake, configurable: true, writable: true });
    return issue.call(this, options);
  };
}

// Complete every interaction at once: log in as the requested account and grant what was asked.
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = details.params.login_hint || 'alice';
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
    return;
  }
  await next();
});

provider.listen(port, '127.0.0.1', () => console.log(`READY ${issuer}`));
