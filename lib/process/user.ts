/**
 * Looking up the account named by `--user` in `/etc/passwd`, so the server
 * can re-execute itself with that account's uid and gid.
 *
 * @module
 */

import { errorMessage, ExitCode, StartupError } from "../errors.ts";

/** A system account. */
export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Finds `user` (a name, or a numeric uid) in the passwd file. Throws
 * {@linkcode StartupError} with exit 67 when there is no such user.
 */
export async function lookupUser(
  user: string,
  passwdPath = "/etc/passwd",
): Promise<Account> {
  let text: string;
  try {
    text = await Deno.readTextFile(passwdPath);
  } catch (error) {
    throw new StartupError(
      `cannot look up user ${user}: ${errorMessage(error)}`,
      ExitCode.noUser,
      { cause: error },
    );
  }
  for (const line of text.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (uid === undefined || gid === undefined) continue;
    if (name === user || (/^\d+$/.test(user) && uid === user)) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  throw new StartupError(
    `unknown user ${JSON.stringify(user)}`,
    ExitCode.noUser,
  );
}
