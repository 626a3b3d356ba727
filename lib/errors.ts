/**
 * The error family. Each error carries what its user will see: a
 * {@linkcode StartupError} the exit code and the message for whoever ran
 * the program; a {@linkcode RequestError} the HTTP status (and headers) a
 * request is refused with, its message being what the client, the
 * control-port `error:` line and the log say. One place per transport turns
 * them into answers (the HTTP handler's `refuse`, the line input's
 * `report`, `main.ts`'s exit).
 *
 * @module
 */

/** Exit statuses from BSD `sysexits.h`, as the original uses them. */
export const ExitCode = {
  ok: 0,
  usage: 64,
  dataErr: 65,
  noInput: 66,
  noUser: 67,
  unavailable: 69,
  software: 70,
  cantCreate: 73,
  noPerm: 77,
} as const;

/** An exit status from {@linkcode ExitCode}. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/**
 * A failure the user must fix (bad option, missing file, port in use); the
 * message says what, the exit code says which kind.
 */
export class StartupError extends Error {
  override name = "StartupError";
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/**
 * A request refused, with the HTTP status it is answered with. Subclasses
 * name the cause: bad input (400), a refused command (403), a body too
 * large (413) or too slow (408), an unsupported type (415), an unavailable
 * broker (503).
 */
export class RequestError extends Error {
  override name = "RequestError";
  /** The HTTP status of the answer. */
  readonly status: number;
  /** Headers the answer carries (`Allow`, `Connection: close`). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * True when what was asked may still happen (a command that timed out
   * in flight): the answer must not say that nothing was published.
   */
  readonly outcomeUnknown: boolean;
  constructor(
    status: number,
    message: string,
    options: ErrorOptions & {
      readonly headers?: Readonly<Record<string, string>>;
      readonly outcomeUnknown?: boolean;
    } = {},
  ) {
    super(message, options);
    this.status = status;
    this.headers = options.headers ?? {};
    this.outcomeUnknown = options.outcomeUnknown ?? false;
  }
}

/**
 * The server cannot take the request now (503): it is halting, or its
 * broker is unreachable. Nothing was published.
 */
export class UnavailableError extends RequestError {
  override name = "UnavailableError";
  constructor(
    message: string,
    options?: ErrorOptions & { readonly outcomeUnknown?: boolean },
  ) {
    super(503, message, options);
  }
}

/** What a request names does not exist (404): an admin's unknown channel. */
export class NotFoundError extends RequestError {
  override name = "NotFoundError";
  constructor(message: string) {
    super(404, message);
  }
}

/** A request that came while the server halts: refused with 503. */
export class ShuttingDownError extends UnavailableError {
  override name = "ShuttingDownError";
  constructor() {
    super("the server is shutting down");
  }
}

/** The message of anything thrown, for logs and error lines. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The application behind `--auth-url` gave no usable answer: none within
 * `--auth-timeout`, a status other than 2xx, 401 or 403, or a body that
 * is not the JSON it may send. Refused with 503: a failing application
 * never opens the door.
 */
export class AuthServiceError extends UnavailableError {
  override name = "AuthServiceError";
}
