'use strict';
// Player identity of a deployment, for serverless.yml (custom.identity): the
// environment of both functions. Identity is required: `serverless package` and
// `serverless deploy` fail here unless the deployer names the identity provider
//   --param="jwksUrl=https://<idp>/.well-known/jwks.json"
//   --param="jwtIssuer=https://<idp>/" --param="jwtAudience=<audience>"
// or opts out explicitly, for a demo anyone may drive for any account:
//   --param="insecureNoAuth=true"
// The functions verify every player token themselves against the key set at
// jwksUrl (README.md, "Identity"); go test ./test/deploy checks the outcome.
module.exports = async ({ resolveVariable }) => {
  const param = async (name) => {
    const v = await resolveVariable(`param:${name}, ''`);
    return v === null || v === undefined ? '' : String(v).trim();
  };
  const optOut = (await param('insecureNoAuth')) || 'false';
  if (optOut !== 'true' && optOut !== 'false') {
    throw new Error(`insecureNoAuth=${optOut}: want true or false`);
  }
  const idp = {
    jwksUrl: await param('jwksUrl'),
    jwtIssuer: await param('jwtIssuer'),
    jwtAudience: await param('jwtAudience'),
  };
  const given = Object.keys(idp).filter((k) => idp[k] !== '');
  if (optOut === 'true') {
    if (given.length > 0) {
      throw new Error(`insecureNoAuth=true turns identity off, but ${given.join(', ')} set: choose one`);
    }
    return { authMode: 'none', ...idp };
  }
  const missing = Object.keys(idp).filter((k) => idp[k] === '');
  if (missing.length > 0) {
    throw new Error(
      `identity is required: set ${missing.map((k) => `--param="${k}=..."`).join(' ')} ` +
        '(your identity provider\'s key set URL, token issuer and audience; README.md, "Deploy"), ' +
        'or --param="insecureNoAuth=true" to deploy without identity (anyone may act for any account)',
    );
  }
  if (!idp.jwksUrl.startsWith('https://')) {
    throw new Error(`jwksUrl=${idp.jwksUrl}: want an https:// URL`);
  }
  return { authMode: 'jwt', ...idp };
};
