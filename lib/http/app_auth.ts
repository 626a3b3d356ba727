/**
 * The HTTP handler's side of `--auth-url`: the application is asked about a
 * request once the hub's own credentials allowed it, and both decisions
 * joined.
 *
 * @module
 */

import type { AuthResult } from "../auth/auth.ts";
import { type AuthUrl, bothAllow } from "../auth/auth_url.ts";
import { type Context, refuseError, type WholeAnswer } from "./answers.ts";

/** One request to put to the application. */
export interface AppQuestion {
  readonly action: "subscribe" | "publish";
  /** The request's headers (its `Cookie` and `Authorization` are sent on). */
  readonly request: { readonly headers: { get(name: string): string | null } };
  /** The request's path as sent, without the query. */
  readonly path: string;
  readonly channels: readonly string[];
  readonly ctx: Context;
  /** How a 503 refusal is answered. */
  readonly answer: "text" | "json";
}

/**
 * `own` joined to the application's decision (both must allow), the
 * application asked only when `own` allows and there is one; a 503
 * refusal, counted by `onFailure`, when the application gives no usable
 * answer.
 */
export async function alsoAskApp(
  authUrl: AuthUrl | undefined,
  own: AuthResult,
  ask: AppQuestion,
  onFailure?: () => void,
): Promise<AuthResult | WholeAnswer> {
  if (!own.ok || authUrl === undefined) return own;
  try {
    return bothAllow(
      own,
      await authUrl.ask({
        action: ask.action,
        channels: ask.channels,
        path: ask.path,
        remoteAddr: ask.ctx.address,
        cookie: ask.request.headers.get("cookie"),
        authorization: ask.request.headers.get("authorization"),
      }),
    );
  } catch (error) {
    onFailure?.();
    return refuseError(ask.ctx, error, ask.answer);
  }
}
