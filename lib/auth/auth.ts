/**
 * Who may publish and subscribe.
 *
 * Publishers prove themselves with the shared publish token or with a JWT
 * whose `publish` claim lists the channels it may publish to; subscribers
 * (with `--subscribe-auth`) with a JWT whose `subscribe` claim covers every
 * channel they ask for. Channel patterns are exact names or globs where `*`
 * matches any run of characters; an empty channel list ("every channel" for a
 * subscriber, "no channel" for a publisher) needs the pattern `*`.
 *
 * Nothing here logs or returns a token: failures carry a short reason only.
 *
 * @module
 */

import * as jose from "jose";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";

/** How tokens are checked; absent parts are not required. */
export interface AuthConfig {
  /** The shared secret a publisher may present instead of a JWT. */
  readonly publishToken?: string;
  /** HS256 secret for JWTs. */
  readonly jwtSecret?: string;
  /** PEM public key (SPKI) for RS256 or ES256 JWTs. */
  readonly jwtPublicKey?: string;
  /** Subscriptions need a JWT with a `subscribe` claim. */
  readonly subscribeAuth: boolean;
}

/** The outcome of a check: allowed (until `expiresAt`, ms) or refused. */
export type AuthResult =
  | { readonly ok: true; readonly grant: Grant }
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string };

/** What a verified credential allows. */
export interface Grant {
  /** Channel patterns, or `null` for every channel (the publish token). */
  readonly patterns: readonly string[] | null;
  /** When the credential stops being valid (ms since epoch), if ever. */
  readonly expiresAt?: number;
  /**
   * Who the credential names (the JWT `sub` claim, or the auth URL's
   * `user`), for the admin views.
   */
  readonly user?: string;
}

/** Checks publish and subscribe credentials against the configuration. */
export class Authorizer {
  readonly #config: AuthConfig;
  readonly #keys: readonly {
    key: CryptoKey | Uint8Array;
    algorithms: string[];
  }[];
  readonly #token?: Uint8Array;

  private constructor(
    config: AuthConfig,
    keys: { key: CryptoKey | Uint8Array; algorithms: string[] }[],
  ) {
    this.#config = config;
    this.#keys = keys;
    if (config.publishToken !== undefined) {
      this.#token = new TextEncoder().encode(config.publishToken);
    }
  }

  /**
   * Prepares the keys. Throws {@linkcode StartupError} (exit 65) for a public
   * key that is neither an RSA nor a P-256 key in PEM form.
   */
  static async create(config: AuthConfig): Promise<Authorizer> {
    const keys: { key: CryptoKey | Uint8Array; algorithms: string[] }[] = [];
    if (config.jwtSecret !== undefined) {
      keys.push({
        key: new TextEncoder().encode(config.jwtSecret),
        algorithms: ["HS256"],
      });
    }
    if (config.jwtPublicKey !== undefined) {
      keys.push(await importPublicKey(config.jwtPublicKey));
    }
    if (config.subscribeAuth && keys.length === 0) {
      throw new StartupError(
        "--subscribe-auth needs --jwt-secret or --jwt-public-key to check tokens",
        ExitCode.usage,
      );
    }
    return new Authorizer(config, keys);
  }

  /** True when publishing needs a credential. */
  get publishProtected(): boolean {
    return this.#token !== undefined || this.#keys.length > 0;
  }

  /** True when subscribing needs a credential. */
  get subscribeProtected(): boolean {
    return this.#config.subscribeAuth;
  }

  /**
   * Verifies a publisher's credential without looking at channels, for a
   * control connection's `auth` line; check each publish with
   * {@linkcode permits}.
   */
  async authenticatePublisher(
    credential: string | undefined,
  ): Promise<AuthResult> {
    if (!this.publishProtected) return { ok: true, grant: { patterns: null } };
    if (credential === undefined || credential === "") {
      return { ok: false, status: 401, reason: "publishing needs a token" };
    }
    if (this.#token && timingSafeEqual(this.#token, credential)) {
      return { ok: true, grant: { patterns: null } };
    }
    return await this.#verifyJwt(credential, "publish");
  }

  /** May `credential` publish to `channels` (empty: to no channel)? */
  async checkPublish(
    credential: string | undefined,
    channels: readonly string[],
  ): Promise<AuthResult> {
    return permits(
      await this.authenticatePublisher(credential),
      channels,
      "publish",
    );
  }

  /** May `credential` subscribe to `channels` (empty: every channel)? */
  async checkSubscribe(
    credential: string | undefined,
    channels: readonly string[],
  ): Promise<AuthResult> {
    if (!this.#config.subscribeAuth) {
      return { ok: true, grant: { patterns: null } };
    }
    if (credential === undefined || credential === "") {
      return { ok: false, status: 401, reason: "subscribing needs a token" };
    }
    return permits(
      await this.#verifyJwt(credential, "subscribe"),
      channels,
      "subscribe",
    );
  }

  async #verifyJwt(
    token: string,
    claim: "publish" | "subscribe",
  ): Promise<AuthResult> {
    if (this.#keys.length === 0) {
      return { ok: false, status: 403, reason: "wrong token" };
    }
    let payload: jose.JWTPayload | undefined;
    let failure = "invalid token";
    for (const { key, algorithms } of this.#keys) {
      try {
        ({ payload } = await jose.jwtVerify(token, key, { algorithms }));
        break;
      } catch (error) {
        if (error instanceof jose.errors.JWTExpired) failure = "token expired";
      }
    }
    if (!payload) return { ok: false, status: 403, reason: failure };
    if (claim === "subscribe" && payload.exp === undefined) {
      return {
        ok: false,
        status: 403,
        reason: "a subscribe token needs an exp claim",
      };
    }
    const patterns = payload[claim];
    if (
      !Array.isArray(patterns) || !patterns.every((p) => typeof p === "string")
    ) {
      return {
        ok: false,
        status: 403,
        reason: `token has no "${claim}" claim`,
      };
    }
    return {
      ok: true,
      grant: {
        patterns,
        ...(payload.exp === undefined ? {} : { expiresAt: payload.exp * 1000 }),
        ...(typeof payload.sub === "string" ? { user: payload.sub } : {}),
      },
    };
  }
}

/**
 * Narrows a successful result to `channels`: refused (403) when the grant
 * does not cover one of them or has expired; a failure passes through.
 */
export function permits(
  result: AuthResult,
  channels: readonly string[],
  action: "publish" | "subscribe",
  now = Date.now(),
): AuthResult {
  if (!result.ok) return result;
  if (result.grant.expiresAt !== undefined && result.grant.expiresAt <= now) {
    return { ok: false, status: 403, reason: "token expired" };
  }
  const denied = deniedChannel(result.grant, channels);
  if (denied === null) return result;
  return {
    ok: false,
    status: 403,
    reason: denied === ""
      ? `token may not ${action} to every channel (needs "*")`
      : `token may not ${action} to channel ${JSON.stringify(denied)}`,
  };
}

/**
 * The first of `channels` the grant does not cover, `""` when the empty list
 * is asked for without `*`, or `null` when everything is covered.
 */
export function deniedChannel(
  grant: Grant,
  channels: readonly string[],
): string | null {
  if (grant.patterns === null) return null;
  if (channels.length === 0) return grant.patterns.includes("*") ? null : "";
  const matchers = grant.patterns.map(globMatcher);
  for (const channel of channels) {
    if (!matchers.some((match) => match(channel))) return channel;
  }
  return null;
}

/** A matcher for a channel pattern: exact, or `*` for any run of characters. */
export function globMatcher(pattern: string): (channel: string) => boolean {
  if (!pattern.includes("*")) return (channel) => channel === pattern;
  const source = pattern.split("*").map((part) =>
    part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
  )
    .join(".*");
  const re = new RegExp(`^${source}$`, "s");
  return (channel) => re.test(channel);
}

/** Pulls the token out of an `Authorization: Bearer …` header. */
export function bearerToken(header: string | null): string | undefined {
  const match = header === null
    ? null
    : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** The value of cookie `name` in a `Cookie` header. */
export function cookieValue(
  header: string | null,
  name: string,
): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return undefined;
}

/** Compares without stopping at the first difference. */
function timingSafeEqual(expected: Uint8Array, given: string): boolean {
  const actual = new TextEncoder().encode(given);
  let diff = actual.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    diff |= expected[i] ^ (actual[i % Math.max(1, actual.length)] ?? 0);
  }
  return diff === 0;
}

async function importPublicKey(
  pem: string,
): Promise<{ key: CryptoKey; algorithms: string[] }> {
  const failures: string[] = [];
  for (const alg of ["RS256", "ES256"]) {
    try {
      return { key: await jose.importSPKI(pem, alg), algorithms: [alg] };
    } catch (error) {
      failures.push(`${alg}: ${errorMessage(error)}`);
    }
  }
  throw new StartupError(
    `the JWT public key is neither an RSA nor a P-256 public key in PEM (SPKI) form (${
      failures.join("; ")
    })`,
    ExitCode.dataErr,
  );
}
