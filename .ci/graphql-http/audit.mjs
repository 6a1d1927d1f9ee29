// Runs the public graphql-http audit suite (the GraphQL over HTTP spec's conformance
// checks) against a running server: `node audit.mjs http://127.0.0.1:PORT/graphql`.
// Fails on any MUST (`error`) failure; prints every SHOULD (`warn`) and notice.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}
const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== 'ok') {
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}`);
  }
}
console.log(
  `graphql-http audit: ${results.length} audits, ${counts.ok} ok, ${counts.error} MUST failures, ` +
    `${counts.warn} SHOULD failures, ${counts.notice} notices`,
);
process.exit(counts.error > 0 ? 1 : 0);
