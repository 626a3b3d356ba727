// Start-up and shut-down of the real program: options and exit codes,
// signals, the config file, detaching into the background and -U.
import assert from "node:assert/strict";
import {
  runProgram,
  startServer,
  waitForFile,
} from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

Deno.test("options: --help prints every option and exits 0", async () => {
  const result = await runProgram(["--help"]);
  assert.equal(result.code, 0);
  for (
    const option of [
      "--nodaemon",
      "--urlpath",
      "--url",
      "--port",
      "--logfile",
      "--cert",
      "--privkey",
      "--fifo",
      "--controlport",
      "--user",
      "--config",
      "--allowcommands",
      "--max-line",
      "65536",
    ]
  ) {
    assert.ok(result.stdout.includes(option), option);
  }
});

Deno.test("options: usage errors name the problem, hint at --help, exit 64, start nothing", async () => {
  const cases: [string[], RegExp][] = [
    [["--frobnicate"], /--frobnicate/],
    [["-p", "http"], /--port must be a whole number.*"http"/],
    [["-p", "65536"], /--port/],
    [["-u", "no-slash"], /--urlpath must start with '\/'/],
    [["-c", `${FIXTURES}cert.pem`], /--cert needs --privkey/],
    [["-k", `${FIXTURES}key.pem`], /--privkey needs --cert/],
    [["stray"], /stray/],
  ];
  for (const [args, message] of cases) {
    const result = await runProgram([
      "-n",
      "--bind",
      "127.0.0.1",
      "-p",
      "0",
      ...args,
    ]);
    assert.equal(result.code, 64, args.join(" "));
    assert.match(result.stderr, message);
    assert.match(result.stderr, /Try 'sse-server --help'/);
    assert.doesNotMatch(result.stdout, /listening/);
  }
});

Deno.test("options: a config file sets options, the command line wins, bad content exits 65", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = `${dir}/sse.conf`;
    await Deno.writeTextFile(
      config,
      "# test config\n\n--urlpath /from/file\n-p 1\n--bind 127.0.0.1\n",
    );
    await using server = await startServer(["-C", config, "-p", "0", "-n"], {
      raw: true,
    });
    await server.waitForOutput(/URL path \/from\/file/);
    await using sub = await connect(`${server.baseUrl}/from/file/c`);
    await (await fetch(`${server.baseUrl}/from/file/c?message=configured`))
      .text();
    assert.equal((await sub.nextEvent()).data, "configured");

    await Deno.writeTextFile(config, "--port 8080\nport 9\n");
    const bad = await runProgram(["-C", config, "-n"]);
    assert.equal(bad.code, 65);
    assert.match(bad.stderr, /sse\.conf:2: expected an option/);
    const missing = await runProgram(["-C", `${dir}/absent.conf`, "-n"]);
    assert.equal(missing.code, 66);
    assert.match(missing.stderr, /cannot read config file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors: a port in use exits 73 with the reason", async () => {
  using blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  const result = await runProgram([
    "-n",
    "--bind",
    "127.0.0.1",
    "-p",
    String(port),
  ]);
  assert.equal(result.code, 73);
  assert.match(
    result.stderr,
    new RegExp(`cannot listen on HTTP port 127\\.0\\.0\\.1:${port}`),
  );
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`signals: ${signal} ends every stream cleanly and exits 0`, async () => {
    const server = await startServer([]);
    try {
      const a = await connect(`${server.baseUrl}/a`);
      const b = await connect(`${server.baseUrl}/b`);
      server.process.kill(signal);
      await Promise.all([a.ended, b.ended]);
      assert.equal(await server.exited, 0);
      assert.match(server.output(), /halting: closing 2 clients/);
    } finally {
      await server.stop();
    }
  });
}

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

Deno.test("daemon: without -n it detaches, reports its pid, logs to -l and halts on SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const log = `${dir}/sse.log`;
  let pid = 0;
  try {
    await Deno.writeTextFile(log, "an earlier line\n");
    const result = await runProgram([
      "--bind",
      "127.0.0.1",
      "-p",
      "0",
      "-l",
      log,
    ]);
    assert.equal(result.code, 0, result.stderr);
    pid = Number(
      /running in the background, pid (\d+)/.exec(result.stdout)?.[1],
    );
    assert.ok(pid > 0, result.stdout);
    assert.ok(alive(pid));
    const port =
      (await waitForFile(log, /listening for http on [^ ]+:(\d+)/))[1];
    await using sub = await connect(`http://127.0.0.1:${port}/d`);
    await (await fetch(`http://127.0.0.1:${port}/d?message=detached`)).text();
    assert.equal((await sub.nextEvent()).data, "detached");
    const text = await Deno.readTextFile(log);
    assert.ok(text.startsWith("an earlier line\n"), "the log is appended to");
    assert.match(text, new RegExp(`sse-server started, pid ${pid}`));
    Deno.kill(pid, "SIGTERM");
    await waitForFile(log, /halted/);
    await sub.ended;
  } finally {
    if (pid > 0 && alive(pid)) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("daemon: a start-up failure in the background is reported by the parent", async () => {
  using blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  const result = await runProgram(["--bind", "127.0.0.1", "-p", String(port)]);
  assert.equal(result.code, 73);
  assert.match(result.stderr, /cannot listen on HTTP port/);
});

Deno.test("user: an unknown user exits 67 before anything starts", async () => {
  const result = await runProgram([
    "-n",
    "--bind",
    "127.0.0.1",
    "-p",
    "0",
    "-U",
    "no-such-user-here",
  ]);
  assert.equal(result.code, 67);
  assert.match(result.stderr, /unknown user "no-such-user-here"/);
  assert.doesNotMatch(result.stdout, /listening/);
});

Deno.test({
  name:
    "user: -U drops to the user after reading config and key, before opening the FIFO",
  ignore: Deno.uid() !== 0, // only root can switch users
  async fn() {
    const dir = await Deno.makeTempDir();
    await Deno.chmod(dir, 0o777);
    // The user must be able to read Deno's cache of npm packages.
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
    }).output();
    const denoDir = JSON.parse(new TextDecoder().decode(info.stdout))
      .denoDir as string;
    const cache = `${dir}/deno_dir`;
    await Deno.mkdir(cache, { recursive: true });
    await new Deno.Command("cp", { args: ["-r", `${denoDir}/npm`, cache] })
      .output();
    await new Deno.Command("chmod", { args: ["-R", "a+rwX", cache] }).output();
    // And the deno executable, which may sit under root's home (npx).
    const deno = `${dir}/deno`;
    await Deno.link(Deno.execPath(), deno).catch(() =>
      Deno.copyFile(Deno.execPath(), deno)
    );
    await Deno.chmod(deno, 0o755);
    // Config and key readable by root only: the dropped process never reads them.
    const config = `${dir}/root-only.conf`;
    await Deno.writeTextFile(config, `--cert ${FIXTURES}cert.pem\n`);
    await Deno.chmod(config, 0o600);
    const key = `${dir}/root-only-key.pem`;
    await Deno.copyFile(`${FIXTURES}key.pem`, key);
    await Deno.chmod(key, 0o600);
    const fifo = `${dir}/sse.fifo`;
    try {
      await using server = await startServer(
        ["-C", config, "-k", key, "-U", "nobody", "-F", fifo],
        { tls: true, env: { DENO_DIR: cache }, deno },
      );
      const pid = Number((await server.waitForOutput(/started, pid (\d+)/))[1]);
      const status = await Deno.readTextFile(`/proc/${pid}/status`);
      assert.match(status, /^Uid:\s+65534\s/m);
      assert.equal((await Deno.stat(fifo)).uid, 65534);
      using client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(`${FIXTURES}ca.pem`)],
      });
      await using sub = await connect(`${server.baseUrl}/u`, { client });
      const file = await Deno.open(fifo, { write: true });
      await file.write(new TextEncoder().encode("u = as nobody\n"));
      file.close();
      assert.equal((await sub.nextEvent()).data, "as nobody");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
