/**
 * TLS material: read once at start-up (before dropping privileges, so the key
 * may stay readable by root only) and shared by the HTTP and control ports.
 *
 * @module
 */

import { errorMessage, ExitCode, StartupError } from "../errors.ts";

/** PEM certificate chain and private key. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * Reads the certificate and key files. Throws {@linkcode StartupError}
 * (exit 66) naming the file that cannot be read, or (exit 69) when a file
 * holds no PEM block of the expected kind.
 */
export async function readTlsFiles(
  certPath: string,
  keyPath: string,
): Promise<TlsFiles> {
  const cert = await readPem(
    certPath,
    "certificate",
    /-----BEGIN CERTIFICATE-----/,
  );
  const key = await readPem(
    keyPath,
    "private key",
    /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  );
  return { cert, key };
}

async function readPem(
  path: string,
  what: string,
  marker: RegExp,
): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new StartupError(
      `cannot read TLS ${what} ${path}: ${errorMessage(error)}`,
      ExitCode.noInput,
      { cause: error },
    );
  }
  if (!marker.test(text)) {
    throw new StartupError(
      `TLS ${what} ${path} holds no PEM ${what}`,
      ExitCode.unavailable,
    );
  }
  return text;
}
