/**
 * Errors that end start-up, each with the BSD sysexits code the process
 * exits with and a message written for the person who ran it.
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

/** The message of anything thrown, for logs and error lines. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
