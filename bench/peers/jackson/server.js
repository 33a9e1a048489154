// Benchmark peer: @boxyhq/saml-jackson's own controllers behind express, the
// way its hosted service (a Next.js app) wires them, reduced to what the
// benchmarks drive:
//   POST /api/oauth/saml                         SAML ACS (oauthController.samlResponse)
//   /api/scim/v2.0/:directory/:type[/:id]        SCIM (directorySyncController.requests.handle)
//   GET  /bench/setup                            what the bench needs to reach the two
//   GET  /bench/group-members?name=…             a group's member count (not over SCIM)
//   GET  /healthz
// Storage: Jackson's in-memory engine (`db.engine = 'mem'`), the lightest it
// has: its SQL engines need a separately installed driver (typeorm).
//
// Environment: PORT (required); JACKSON_IDP_CERT (PEM file of the IdP's
// signing certificate, default the repository's test IdP certificate);
// JACKSON_IDP_ISSUER (default http://www.okta.com/exkbench).
'use strict';

const fs = require('fs');
const path = require('path');
const express = require('express');
const jackson = require('@boxyhq/saml-jackson');

const port = Number(process.env.PORT || 0);
if (!port) {
  console.error('PORT is required');
  process.exit(1);
}
const externalUrl = `http://127.0.0.1:${port}`;
const certPem = fs.readFileSync(
  process.env.JACKSON_IDP_CERT || path.join(__dirname, '../../../fixtures/certs/idp-cert.pem'),
  'utf8'
);
const issuer = process.env.JACKSON_IDP_ISSUER || 'http://www.okta.com/exkbench';
const cert = certPem
  .split('\n')
  .filter((l) => l && !l.startsWith('-----'))
  .join('');
const metadata = `<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${issuer}"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/sso"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`;

const samlPath = '/api/oauth/saml';
const scimPath = '/api/scim/v2.0';
const samlAudience = `${externalUrl}${samlPath}`;

async function main() {
  const { connectionAPIController, oauthController, directorySyncController } = await jackson.controllers({
    externalUrl,
    samlAudience,
    samlPath,
    scimPath,
    idpEnabled: true,
    noAnalytics: true,
    db: { engine: 'mem' },
  });

  await connectionAPIController.createSAMLConnection({
    rawMetadata: metadata,
    defaultRedirectUrl: `${externalUrl}/app/callback`,
    redirectUrl: JSON.stringify([`${externalUrl}/*`]),
    tenant: 'bench',
    product: 'bench',
  });
  const { data: directory, error } = await directorySyncController.directories.create({
    name: 'bench',
    tenant: 'bench',
    product: 'bench',
    type: 'azure-scim-v2',
  });
  if (error) throw new Error(JSON.stringify(error));

  const app = express();
  app.use(express.urlencoded({ extended: false, limit: '1mb' }));
  app.use(express.json({ type: ['application/json', 'application/scim+json'], limit: '1mb' }));

  app.get('/healthz', (_req, res) => res.send('ok'));
  app.get('/bench/setup', (_req, res) =>
    res.json({
      acs_url: `${externalUrl}${samlPath}`,
      audience: samlAudience,
      // directory.scim.path carries "/?aadOptscim062020" for Azure directories.
      scim_base: `${externalUrl}${scimPath}/${directory.id}`,
      scim_token: directory.scim.secret,
    })
  );

  // A group's member count, read from Jackson's own store: its SCIM Group
  // resources always say "members": [] (DirectoryGroups.get/getAll keep
  // members in a separate store), so the bench cannot check them over SCIM.
  app.get('/bench/group-members', async (req, res) => {
    try {
      const groups = directorySyncController.groups.setTenantAndProduct('bench', 'bench');
      const { data: found } = await groups.search(String(req.query.name || ''), directory.id);
      if (!found || found.length !== 1) return res.status(404).json({ error: 'no such group' });
      const { data: members, error: failed } = await groups.getGroupMembers({ groupId: found[0].id });
      if (failed) return res.status(500).json(failed);
      res.json({ members: members.length });
    } catch (err) {
      res.status(500).send(String(err.message || err));
    }
  });

  // As Jackson's hosted /api/oauth/saml does: validate, then redirect with a code.
  app.post(samlPath, async (req, res) => {
    try {
      const { redirect_url, app_select_form, response_form } = await oauthController.samlResponse(req.body);
      if (redirect_url) return res.redirect(302, redirect_url);
      res.type('html').send(app_select_form || response_form || '');
    } catch (err) {
      res.status(err.statusCode || 500).send(String(err.message || err));
    }
  });

  // As Jackson's hosted /api/scim/v2.0/[...directory] does.
  const scim = async (req, res) => {
    const auth = req.get('authorization') || '';
    const apiSecret = auth.startsWith('Bearer ') ? auth.slice(7) : null;
    const { status, data } = await directorySyncController.requests.handle({
      method: req.method,
      body: req.body && Object.keys(req.body).length ? req.body : undefined,
      directoryId: req.params.directory,
      resourceType: req.params.type,
      resourceId: req.params.id,
      apiSecret,
      query: {
        count: req.query.count ? parseInt(req.query.count, 10) : undefined,
        startIndex: req.query.startIndex ? parseInt(req.query.startIndex, 10) : undefined,
        filter: req.query.filter,
      },
    });
    res.status(status).type('application/scim+json').send(JSON.stringify(data));
  };
  app.all(`${scimPath}/:directory/:type`, scim);
  app.all(`${scimPath}/:directory/:type/:id`, scim);

  app.listen(port, '127.0.0.1');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
