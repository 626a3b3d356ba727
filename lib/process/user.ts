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

/**
 * The gids of `account`: its own, and those of the groups in `groupPath`
 * that list it as a member.
 */
export function groupsOf(
  account: Account,
  groupPath = "/etc/group",
): number[] {
  const gids = [account.gid];
  let text = "";
  try {
    text = Deno.readTextFileSync(groupPath);
  } catch {
    return gids; // no group file: the primary group only
  }
  for (const line of text.split("\n")) {
    const [, , gid, members] = line.split(":");
    if (members?.split(",").includes(account.name)) gids.push(Number(gid));
  }
  return gids;
}

/**
 * Whether `account` (in `groups`) may read `path`: search permission on
 * every directory above it, and read permission on it (and search, when it
 * is a directory). By the mode bits alone, as the kernel decides for a
 * process of that uid without capabilities; root may read anything.
 */
export function mayRead(
  path: string,
  account: Account,
  groups: readonly number[] = [account.gid],
): boolean {
  if (account.uid === 0) return true;
  const parts = path.split("/").filter((part) => part !== "");
  let current = "";
  for (let i = 0; i <= parts.length; i++) {
    const info = statOrNull(current === "" ? "/" : current);
    if (info === null) return false;
    const last = i === parts.length;
    const need = !last ? 1 : info.isDirectory ? 5 : 4; // x, r+x, r
    const mode = info.mode ?? 0;
    const bits = info.uid === account.uid
      ? mode >> 6
      : groups.includes(info.gid ?? -1)
      ? mode >> 3
      : mode;
    if (((bits & 7) & need) !== need) return false;
    if (!last) current += `/${parts[i]}`;
  }
  return true;
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}
