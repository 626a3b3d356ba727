// Whether an account may read a path by its mode bits, before the server
// re-executes itself as that account (-U).
import assert from "node:assert/strict";
import { groupsOf, mayRead } from "../../lib/process/user.ts";

const NOBODY = { name: "nobody", uid: 65534, gid: 65534 };

Deno.test("mayRead: search on every directory above, read on the file; root reads all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sse-user-" });
  try {
    const inner = `${dir}/inner`;
    await Deno.mkdir(inner);
    const file = `${inner}/file.txt`;
    await Deno.writeTextFile(file, "x");
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(inner, 0o755);
    await Deno.chmod(file, 0o644);
    assert.ok(mayRead(file, NOBODY));
    assert.ok(mayRead(inner, NOBODY));
    await Deno.chmod(file, 0o600);
    assert.ok(!mayRead(file, NOBODY));
    await Deno.chmod(file, 0o644);
    // A directory above without search permission hides everything below.
    await Deno.chmod(dir, 0o700);
    assert.ok(!mayRead(file, NOBODY));
    assert.ok(!mayRead(inner, NOBODY));
    // A directory needs read and search to be read.
    await Deno.chmod(dir, 0o711);
    assert.ok(mayRead(file, NOBODY));
    await Deno.chmod(inner, 0o711);
    assert.ok(!mayRead(inner, NOBODY));
    assert.ok(mayRead(file, NOBODY));
    assert.ok(!mayRead(`${dir}/missing`, NOBODY));
    assert.ok(mayRead(file, { name: "root", uid: 0, gid: 0 }));
  } finally {
    await Deno.chmod(dir, 0o700);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mayRead: the owner's bits for the owner, the group's for members", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sse-user-" });
  try {
    await Deno.chmod(dir, 0o755);
    const file = `${dir}/f`;
    await Deno.writeTextFile(file, "x");
    const owner = Deno.statSync(file);
    await Deno.chmod(file, 0o040);
    const member = { name: "m", uid: 12345, gid: 54321 };
    assert.ok(!mayRead(file, member));
    assert.ok(mayRead(file, member, [54321, owner.gid!]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("groupsOf: the primary group and the groups that list the account", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(
      path,
      "root:x:0:\nstaff:x:50:alice,nobody\nother:x:60:alice\nnogroup:x:65534:\n",
    );
    assert.deepEqual(groupsOf(NOBODY, path), [65534, 50]);
    assert.deepEqual(groupsOf(NOBODY, "/no/such/file"), [65534]);
  } finally {
    await Deno.remove(path);
  }
});
