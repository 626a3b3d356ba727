/**
 * The options of the security section (who may publish and subscribe, and
 * from which origins): a part of the one table, `option_table.ts`, kept
 * apart to keep that module small. `--help` shows them where the table
 * spreads them.
 *
 * @module
 */

import {
  flag,
  list,
  option,
  optional,
  seconds,
  text,
  url,
} from "./value_kinds.ts";

/** Credentials, the application's say (`--auth-url`) and CORS. */
export const SECURITY_OPTIONS = {
  publishToken: optional({
    long: "publish-token",
    kind: text(),
    arg: "TOKEN",
    help:
      'publishing needs "Authorization: Bearer TOKEN" (HTTP) or a first line "auth TOKEN" (control port); also from $SSE_PUBLISH_TOKEN',
    section: "security",
    secret: true,
  }),
  publishTokenFile: optional({
    long: "publish-token-file",
    kind: text(),
    arg: "FILE",
    help: "the same, read from FILE (wins)",
    section: "security",
  }),
  jwtSecret: optional({
    long: "jwt-secret",
    kind: text(),
    arg: "SECRET",
    help: "accept HS256 JWTs (publish/subscribe claims)",
    section: "security",
    secret: true,
  }),
  jwtPublicKey: optional({
    long: "jwt-public-key",
    kind: text(),
    arg: "FILE",
    help: "accept RS256/ES256 JWTs signed for this key",
    section: "security",
  }),
  subscribeAuth: option({
    long: "subscribe-auth",
    kind: flag,
    default: false,
    help: "subscribing needs a JWT with a subscribe claim",
    section: "security",
  }),
  authCookie: optional({
    long: "auth-cookie",
    kind: text(),
    arg: "NAME",
    help: "a subscriber's JWT may come in this cookie",
    section: "security",
  }),
  authUrl: optional({
    long: "auth-url",
    kind: url("http:", "https:"),
    arg: "URL",
    help:
      "ask the application at URL (POST, JSON; Cookie and Authorization forwarded) before each subscription and HTTP publish: 2xx allows, 401/403 refuse, anything else 503",
    note: "default: off",
    section: "security",
  }),
  authTimeout: option({
    long: "auth-timeout",
    kind: seconds(0.01, 3600),
    default: 2,
    arg: "SECONDS",
    help: "time for the --auth-url application to answer; then 503",
    section: "security",
  }),
  authCache: option({
    long: "auth-cache",
    kind: seconds(0, 86_400),
    default: 0,
    arg: "SECONDS",
    help:
      "reuse an --auth-url decision for the same request (same action, channels, path, address, Cookie and Authorization)",
    note: ": ask every time",
    section: "security",
  }),
  corsOrigins: option({
    long: "cors-origin",
    kind: list,
    default: ["*"],
    arg: "LIST",
    help: "allowed origins, comma-separated",
    section: "security",
  }),
} as const;
