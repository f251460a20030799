// Verifies a sigstore bundle (DSSE over an in-toto statement, signed with a
// key, no transparency log) with sigstore-js's @sigstore/verify, then checks
// what the statement says. Used by resolver/tests/sigstore_js.rs.
//
//   node verify-attestation.cjs BUNDLE.json KEY.pub sha256:<manifest> PREDICATE_TYPE
//
// Exit 0 and `verified` on stdout when everything holds; exit 1 and the
// reason on stderr otherwise. NODE_PATH must reach the installed packages
// (scripts/install-sigstore-js.sh).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const [bundlePath, keyPath, subject, predicateType] = process.argv.slice(2);
if (!predicateType) fail('usage: verify-attestation.cjs BUNDLE KEY.pub sha256:<hex> PREDICATE_TYPE');

const key = crypto.createPublicKey(fs.readFileSync(keyPath));
// cosign's hint: base64 of the SHA-256 of the DER SubjectPublicKeyInfo.
const hint = crypto
  .createHash('sha256')
  .update(key.export({ type: 'spki', format: 'der' }))
  .digest('base64');

// No Fulcio, Rekor, CT log or timestamp authority: the key alone decides.
const emptyRoot = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] };
const trust = toTrustMaterial(emptyRoot, (wanted) => {
  if (wanted !== hint) throw new Error(`the bundle names key ${wanted}, not ${hint}`);
  return { publicKey: key, validFor: () => true };
});
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });

let bundle;
try {
  bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
} catch (e) {
  fail(`not a sigstore bundle: ${e.message}`);
}
try {
  verifier.verify(toSignedEntity(bundle));
} catch (e) {
  fail(`sigstore-js refused the bundle: ${e.code || ''} ${e.message}`);
}

const envelope = bundle.content.dsseEnvelope;
if (envelope.payloadType !== 'application/vnd.in-toto+json') fail(`payload type ${envelope.payloadType}`);
const statement = JSON.parse(Buffer.from(envelope.payload).toString('utf8'));
if (statement._type !== 'https://in-toto.io/Statement/v1') fail(`_type ${statement._type}`);
if (statement.predicateType !== predicateType) fail(`predicateType ${statement.predicateType}`);
const [algorithm, hex] = subject.split(':');
if (!statement.subject.some((s) => s.digest && s.digest[algorithm] === hex)) {
  fail(`the statement is about ${JSON.stringify(statement.subject)}, not ${subject}`);
}
process.stdout.write(`verified ${statement.predicate.result || ''}\n`);
