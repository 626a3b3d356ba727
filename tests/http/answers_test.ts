// The one place an error becomes an HTTP answer: every error of the family
// keeps its status, headers and message; anything else is a bug, thrown on.
import assert from "node:assert/strict";
import { refuseError, toResponse } from "../../lib/http/answers.ts";
import { RequestError } from "../../lib/errors.ts";
import {
  CommandRefusedError,
  InstructionError,
} from "../../lib/protocol/instruction.ts";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  UnsupportedMediaTypeError,
} from "../../lib/protocol/post_body.ts";
import { ClusterUnavailableError } from "../../lib/broker/cluster.ts";
import { BadTargetError } from "../../lib/http/target.ts";
import { HeadError } from "../../lib/http/lean/head.ts";

const ctx = {
  source: { kind: "http" as const, name: "127.0.0.1:1" },
  address: "127.0.0.1",
  cors: { "Access-Control-Allow-Origin": "*" },
};

Deno.test("refuseError: each error of the family answers with its own status, headers and message", async () => {
  const cases: [RequestError, number][] = [
    [new InstructionError("bad line"), 400],
    [new BadTargetError("bad target"), 400],
    [new CommandRefusedError("not here"), 403],
    [new HeadError(405, "method not allowed", { Allow: "GET" }), 405],
    [new BodyTimeoutError("too slow"), 408],
    [new BodyTooLargeError("too big"), 413],
    [new UnsupportedMediaTypeError("what type"), 415],
    [new ClusterUnavailableError("Redis is down"), 503],
  ];
  for (const [error, status] of cases) {
    const response = toResponse(refuseError(ctx, error, "json"));
    assert.equal(response.status, status, error.name);
    const body = await response.json();
    assert.equal(body.error, `${error.message}; nothing was published`);
    for (const [name, value] of Object.entries(error.headers)) {
      assert.equal(response.headers.get(name), value);
    }
  }
  assert.equal(
    toResponse(refuseError(ctx, new BodyTimeoutError("slow"))).headers.get(
      "connection",
    ),
    "close",
  );
  // An outage is not bad input.
  assert.ok(!(new ClusterUnavailableError("down") instanceof InstructionError));
});

Deno.test("refuseError: anything outside the family is thrown on, not answered", () => {
  const bug = new TypeError("a bug");
  assert.throws(() => refuseError(ctx, bug), (error) => error === bug);
});
