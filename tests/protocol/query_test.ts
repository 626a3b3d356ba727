import assert from "node:assert/strict";
import { InstructionError } from "../../lib/protocol/instruction.ts";
import { decodeComponent, parseQuery } from "../../lib/protocol/query.ts";

function assertRefused(query: string, message?: RegExp) {
  assert.throws(
    () => parseQuery(query),
    (error: unknown) => {
      assert.ok(error instanceof InstructionError, String(error));
      if (message) assert.match(error.message, message);
      return true;
    },
    `expected ${JSON.stringify(query)} to be refused`,
  );
}

Deno.test("parseQuery: one event", () => {
  assert.deepEqual(parseQuery("q1=go"), [
    { kind: "event", type: "q1", data: "go" },
  ]);
});

Deno.test("parseQuery: '&' and ';' both separate parameters, order kept", () => {
  assert.deepEqual(parseQuery("a=1&b=2;c=3&a=4"), [
    { kind: "event", type: "a", data: "1" },
    { kind: "event", type: "b", data: "2" },
    { kind: "event", type: "c", data: "3" },
    { kind: "event", type: "a", data: "4" },
  ]);
});

Deno.test("parseQuery: '+' is a space, %2B is a plus", () => {
  assert.deepEqual(parseQuery("msg=hello+big+world&p=1%2B1"), [
    { kind: "event", type: "msg", data: "hello big world" },
    { kind: "event", type: "p", data: "1+1" },
  ]);
});

Deno.test("parseQuery: %XX are UTF-8 bytes", () => {
  assert.deepEqual(parseQuery("t=caf%C3%A9&u=%E2%82%AC%F0%9F%98%80"), [
    { kind: "event", type: "t", data: "café" },
    { kind: "event", type: "u", data: "€😀" },
  ]);
  // Escapes work in the type too, and lower-case hex is fine.
  assert.deepEqual(parseQuery("%71%31=caf%c3%a9"), [
    { kind: "event", type: "q1", data: "café" },
  ]);
});

Deno.test("parseQuery: escaped separators stay in the data", () => {
  assert.deepEqual(parseQuery("t=a%26b%3Bc%3Dd"), [
    { kind: "event", type: "t", data: "a&b;c=d" },
  ]);
});

Deno.test("parseQuery: %0A in data is kept as a newline", () => {
  assert.deepEqual(parseQuery("t=one%0Atwo%0D%0Athree"), [
    { kind: "event", type: "t", data: "one\ntwo\r\nthree" },
  ]);
});

Deno.test("parseQuery: data may contain '=' after the first", () => {
  assert.deepEqual(parseQuery("t=a=b==c"), [
    { kind: "event", type: "t", data: "a=b==c" },
  ]);
});

Deno.test("parseQuery: empty data is an event with empty data", () => {
  assert.deepEqual(parseQuery("t="), [{ kind: "event", type: "t", data: "" }]);
});

Deno.test("parseQuery: empty parts are skipped", () => {
  assert.deepEqual(parseQuery(""), []);
  assert.deepEqual(parseQuery("&;&"), []);
  assert.deepEqual(parseQuery("&a=1;;&b=2&"), [
    { kind: "event", type: "a", data: "1" },
    { kind: "event", type: "b", data: "2" },
  ]);
});

Deno.test("parseQuery: a parameter without '=' is a command", () => {
  assert.deepEqual(parseQuery("status"), [
    { kind: "command", command: "status" },
  ]);
  assert.deepEqual(parseQuery("q1=go;q2=end&halt"), [
    { kind: "event", type: "q1", data: "go" },
    { kind: "event", type: "q2", data: "end" },
    { kind: "command", command: "halt" },
  ]);
  // Decoded like the rest.
  assert.deepEqual(parseQuery("st%61tus"), [
    { kind: "command", command: "status" },
  ]);
});

Deno.test("parseQuery: malformed %-escape is an InstructionError", () => {
  assertRefused("t=%zz", /malformed %-escape/);
  assertRefused("t=100%", /malformed/);
  assertRefused("t=%4", /malformed/);
  assertRefused("%zz=x", /malformed/);
  assertRefused("%zz", /malformed/);
  // Valid escapes that are not UTF-8.
  assertRefused("t=%E0%A4", /malformed/);
  assertRefused("t=%FF", /malformed/);
  assertRefused("t=%C3", /malformed/);
});

Deno.test("parseQuery: a bad parameter refuses the whole query", () => {
  // No partial result: the caller must be able to publish nothing.
  assertRefused("a=1&b=2&c=%zz");
  assertRefused("a=1&bad+type=2");
});

Deno.test("decodeComponent: message gives the length, never the raw text (it may be a token)", () => {
  assert.throws(
    () => decodeComponent("ab%zz"),
    (error: unknown) => {
      assert.ok(error instanceof InstructionError);
      assert.match(error.message, /of 5 characters/);
      assert.doesNotMatch(error.message, /ab/);
      return true;
    },
  );
  assert.equal(decodeComponent("a+b%20c"), "a b c");
});

Deno.test("parseQuery: event type with a space after decoding is refused", () => {
  assertRefused("my+type=x", /event type "my type" contains a space/);
  assertRefused("my%20type=x", /a space/);
});

Deno.test("parseQuery: event type with a control character after decoding is refused", () => {
  assertRefused("t%01=x", /U\+0001/);
  assertRefused("t%0A=x", /U\+000A/);
  assertRefused("t%7F=x", /U\+007F/);
  assertRefused("t%00=x", /U\+0000/);
});

Deno.test("parseQuery: event type with '/' or '=' after decoding is refused", () => {
  assertRefused("a%2Fb=x", /event type/);
  assertRefused("a%3Db=x", /event type/);
});

Deno.test("parseQuery: empty event type is refused", () => {
  assertRefused("=x", /empty event type/);
});
