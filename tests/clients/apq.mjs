// Apollo Client 4 with PersistedQueryLink against a running Atelier: the hash is sent
// alone, the server asks for the text once, and every later client (a fresh cache, as
// after a reload) gets its answer for the hash alone — over POST, and over GET with
// useGETForHashedQueries. Usage: node apq.mjs http://127.0.0.1:PORT/graphql
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const uri = process.argv[2];
assert.ok(uri, "usage: node apq.mjs <graphql url>");

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

// Every request the client sends, as the server saw it.
function recordingClient(useGETForHashedQueries) {
  const sent = [];
  const fetchAndRecord = async (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url);
    const body = init.body ? JSON.parse(init.body) : null;
    const response = await fetch(input, init);
    sent.push({
      method: init.method ?? "GET",
      hashOnly: body ? !body.query : !url.searchParams.get("query"),
      status: response.status,
    });
    return response;
  };
  const link = new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri, fetch: fetchAndRecord }),
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), sent };
}

const POLICY = gql`
  query CurrentPolicy {
    privacyPolicy {
      version
    }
  }
`;

for (const useGET of [false, true]) {
  // A query this server has not seen in this run: the alias makes the text unique.
  const unique = gql`
    query Unique${useGET ? "Get" : "Post"} {
      policy${useGET ? "Get" : "Post"}: privacyPolicy {
        version
      }
    }
  `;
  const first = recordingClient(useGET);
  const { data } = await first.client.query({ query: unique });
  assert.equal(typeof Object.values(data)[0].version, "number", JSON.stringify(data));
  assert.deepEqual(
    first.sent.map((r) => r.hashOnly),
    [true, false],
    `the hash alone, then the text: ${JSON.stringify(first.sent)}`,
  );
  const later = recordingClient(useGET);
  const again = await later.client.query({ query: unique });
  assert.deepEqual(again.data, data);
  assert.deepEqual(
    later.sent.map((r) => [r.method, r.hashOnly, r.status]),
    [[useGET ? "GET" : "POST", true, 200]],
    `a later client sends the hash alone: ${JSON.stringify(later.sent)}`,
  );
}

// The link stays on across many operations (it would turn itself off after a refusal
// it does not understand).
const { client, sent } = recordingClient(false);
for (let i = 0; i < 5; i++) {
  const { data } = await client.query({ query: POLICY, fetchPolicy: "network-only" });
  assert.equal(typeof data.privacyPolicy.version, "number");
}
// The first asks for the text once; every later one is the hash alone.
assert.deepEqual(
  sent.map((r) => r.hashOnly),
  [true, false, true, true, true, true],
  JSON.stringify(sent),
);
console.log("apq: the round trip, hash-only hits over POST and GET, the link kept on");
