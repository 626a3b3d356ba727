import assert from "node:assert/strict";
import { StartupError } from "../../lib/errors.ts";
import {
  defaultOptions,
  type Options,
  parseOptions,
} from "../../lib/config/options.ts";
import {
  OPTION_TABLE,
  type OptionSpec,
} from "../../lib/config/option_table.ts";
import { USAGE } from "../../lib/config/usage.ts";

/** Asserts that parsing `args` fails with `exitCode`, and returns the message. */
async function assertFails(
  args: string[],
  exitCode: number,
  message?: RegExp,
): Promise<string> {
  let caught: unknown;
  try {
    await parseOptions(args);
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof StartupError,
    `expected a StartupError for ${JSON.stringify(args)}, got ${caught}`,
  );
  assert.equal(caught.exitCode, exitCode, caught.message);
  if (message) assert.match(caught.message, message);
  return caught.message;
}

/** Writes `text` to a temporary config file, runs `fn`, removes the file. */
async function withConfig<T>(
  text: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const path = await Deno.makeTempFile({
    prefix: "sse-options-",
    suffix: ".conf",
  });
  try {
    await Deno.writeTextFile(path, text);
    return await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("parseOptions: defaults", async () => {
  const options = await parseOptions([]);
  const expected: Options = {
    authUrl: undefined,
    authTimeout: 2,
    authCache: 0,
    help: false,
    nodaemon: false,
    urlPath: "/",
    port: 8080,
    bind: "0.0.0.0",
    logFile: undefined,
    logLevel: "info",
    cert: undefined,
    privKey: undefined,
    fifo: undefined,
    fifoBlockTimeout: 5,
    controlPort: undefined,
    user: undefined,
    config: undefined,
    allowCommands: false,
    maxLine: 65536,
    maxClientBuffer: 1048576,
    maxBacklog: 16777216,
    keepAlive: 15,
    history: 1000,
    historyAge: 3600,
    historyBytes: 67108864,
    retry: undefined,
    presence: false,
    maxBody: 1048576,
    noGetPublish: false,
    httpEngine: "lean",
    headTimeout: 10,
    bodyTimeout: 30,
    adminPort: undefined,
    adminBind: "127.0.0.1",
    controlBind: undefined,
    publishToken: undefined,
    publishTokenFile: undefined,
    jwtSecret: undefined,
    jwtPublicKey: undefined,
    subscribeAuth: false,
    authCookie: undefined,
    corsOrigins: ["*"],
    maxClients: 100_000,
    maxClientsPerIp: 0,
    maxChannels: 100,
    maxNameLength: 256,
    maxControllers: 100,
    controlIdleTimeout: 3600,
    publishRate: 0,
    redis: undefined,
    redisTimeout: 2,
    redisStartTimeout: 10,
    redisPasswordFile: undefined,
  };
  assert.deepEqual(options, expected);
  assert.deepEqual(defaultOptions(), expected);
});

Deno.test("option table: every option is parsed, listed in --help with its flags and default, and has a value", async () => {
  const defaults = defaultOptions();
  for (const [name, table] of Object.entries(OPTION_TABLE)) {
    const spec: OptionSpec<unknown> = table;
    assert.ok(name in defaults, name);
    assert.match(USAGE, new RegExp(`--${spec.long}\\b`), spec.long);
    if (spec.short) {
      assert.match(USAGE, new RegExp(`-${spec.short}, --${spec.long}\\b`));
    }
    for (const alias of spec.aliases ?? []) {
      assert.match(USAGE, new RegExp(`--${alias}\\b`), alias);
    }
  }
  // Defaults shown as the table has them, bytes with their size.
  assert.match(USAGE, /--max-line N +longest[^]*?\(default 65536 = 64 KiB\)/);
  assert.match(
    USAGE,
    /--max-backlog N[^]*?\(default 16777216 =\s+16 MiB; 0: never\)/,
  );
  assert.match(USAGE, /--bind ADDRESS[^]*?\(default 0\.0\.0\.0:\s+all\)/);
  // An alias means what its option means.
  assert.equal((await parseOptions(["--url", "/sse"])).urlPath, "/sse");
});

Deno.test("parseOptions: -h and --help", async () => {
  assert.equal((await parseOptions(["-h"])).help, true);
  assert.equal((await parseOptions(["--help"])).help, true);
});

Deno.test("parseOptions: -n and --nodaemon", async () => {
  assert.equal((await parseOptions(["-n"])).nodaemon, true);
  assert.equal((await parseOptions(["--nodaemon"])).nodaemon, true);
});

Deno.test("parseOptions: -u, --urlpath and --url", async () => {
  assert.equal((await parseOptions(["-u", "/events"])).urlPath, "/events");
  assert.equal(
    (await parseOptions(["--urlpath", "/a/b"])).urlPath,
    "/a/b",
  );
  assert.equal((await parseOptions(["--url", "/sse"])).urlPath, "/sse");
  assert.equal((await parseOptions(["--urlpath=/eq"])).urlPath, "/eq");
});

Deno.test("parseOptions: -p and --port", async () => {
  assert.equal((await parseOptions(["-p", "9000"])).port, 9000);
  assert.equal((await parseOptions(["--port", "971"])).port, 971);
  assert.equal((await parseOptions(["--port=65535"])).port, 65535);
  assert.equal((await parseOptions(["-p", "0"])).port, 0);
});

Deno.test("parseOptions: -l and --logfile", async () => {
  assert.equal(
    (await parseOptions(["-l", "/tmp/a.log"])).logFile,
    "/tmp/a.log",
  );
  assert.equal(
    (await parseOptions(["--logfile", "b.log"])).logFile,
    "b.log",
  );
});

Deno.test("parseOptions: -c/--cert with -k/--privkey", async () => {
  const short = await parseOptions(["-c", "cert.pem", "-k", "key.pem"]);
  assert.equal(short.cert, "cert.pem");
  assert.equal(short.privKey, "key.pem");
  const long = await parseOptions(["--cert", "c.pem", "--privkey", "k.pem"]);
  assert.equal(long.cert, "c.pem");
  assert.equal(long.privKey, "k.pem");
});

Deno.test("parseOptions: -F and --fifo", async () => {
  assert.equal((await parseOptions(["-F", "sse.fifo"])).fifo, "sse.fifo");
  assert.equal((await parseOptions(["--fifo", "/tmp/f"])).fifo, "/tmp/f");
});

Deno.test("parseOptions: -P and --controlport", async () => {
  assert.equal((await parseOptions(["-P", "8081"])).controlPort, 8081);
  assert.equal(
    (await parseOptions(["--controlport", "9999"])).controlPort,
    9999,
  );
});

Deno.test("parseOptions: -U and --user", async () => {
  assert.equal((await parseOptions(["-U", "nobody"])).user, "nobody");
  assert.equal((await parseOptions(["--user", "www-data"])).user, "www-data");
});

Deno.test("parseOptions: -a and --allowcommands", async () => {
  assert.equal((await parseOptions(["-a"])).allowCommands, true);
  assert.equal((await parseOptions(["--allowcommands"])).allowCommands, true);
});

Deno.test("parseOptions: short flags can be grouped", async () => {
  const options = await parseOptions(["-na", "-p", "1234"]);
  assert.equal(options.nodaemon, true);
  assert.equal(options.allowCommands, true);
  assert.equal(options.port, 1234);
});

Deno.test("parseOptions: --bind, --max-line, --max-client-buffer, --keepalive", async () => {
  const options = await parseOptions([
    "--bind",
    "127.0.0.1",
    "--max-line",
    "1000",
    "--max-client-buffer",
    "131072",
    "--keepalive",
    "2.5",
  ]);
  assert.equal(options.bind, "127.0.0.1");
  assert.equal(options.maxLine, 1000);
  assert.equal(options.maxClientBuffer, 131072);
  assert.equal(options.keepAlive, 2.5);
  assert.equal((await parseOptions(["--keepalive", "30"])).keepAlive, 30);
});

Deno.test("parseOptions: the lean engine by default, Deno.serve with TLS", async () => {
  assert.equal((await parseOptions([])).httpEngine, "lean");
  const tls = await parseOptions(["-c", "cert.pem", "-k", "key.pem"]);
  assert.equal(tls.httpEngine, "serve");
  assert.equal(
    (await parseOptions(["--http-engine", "serve"])).httpEngine,
    "serve",
  );
  // The lean engine speaks HTTPS too, when asked for.
  const leanTls = await parseOptions([
    "-c",
    "cert.pem",
    "-k",
    "key.pem",
    "--http-engine",
    "lean",
  ]);
  assert.equal(leanTls.httpEngine, "lean");
});

Deno.test("parseOptions: --max-backlog takes bytes; 0 turns push-back off", async () => {
  assert.equal(
    (await parseOptions(["--max-backlog", "1000000"])).maxBacklog,
    1000000,
  );
  assert.equal((await parseOptions(["--max-backlog", "0"])).maxBacklog, 0);
  await assertFails(["--max-backlog", "-1"], 64, /--max-backlog/);
  await assertFails(["--max-backlog", "64M"], 64, /--max-backlog/);
});

Deno.test("parseOptions: bad --max-line, --max-client-buffer, --keepalive -> 64", async () => {
  await assertFails(["--max-line", "lots"], 64, /--max-line/);
  await assertFails(["--max-client-buffer", "1.5"], 64, /--max-client-buffer/);
  await assertFails(["--keepalive", "soon"], 64, /--keepalive/);
  await assertFails(["--keepalive", "0"], 64, /--keepalive/);
  await assertFails(["--bind", ""], 64, /--bind/);
});

Deno.test("parseOptions: unknown option -> 64, naming the option", async () => {
  await assertFails(["--bogus"], 64, /--bogus/);
  await assertFails(["-z"], 64, /-z/);
  await assertFails(["-n", "--daemon-off", "-p", "80"], 64, /--daemon-off/);
});

Deno.test("parseOptions: bad port -> 64", async () => {
  await assertFails(["-p", "abc"], 64, /abc/);
  await assertFails(["-p", "70000"], 64, /70000/);
  await assertFails(["--port", "-1"], 64);
  await assertFails(["--port=-1"], 64, /-1/);
  await assertFails(["-p", "80.5"], 64);
  await assertFails(["-p", ""], 64);
  await assertFails(["-P", "abc"], 64, /controlport/);
  await assertFails(["-P", "65536"], 64, /controlport/);
});

Deno.test("parseOptions: option missing its value -> 64", async () => {
  await assertFails(["-p"], 64, /-p/);
  await assertFails(["--fifo"], 64, /--fifo/);
});

Deno.test("parseOptions: urlpath not starting with / -> 64", async () => {
  await assertFails(["-u", "events"], 64, /urlpath/);
  await assertFails(["--url", "x/y"], 64, /"x\/y"/);
  await assertFails(["--urlpath", ""], 64);
});

Deno.test("parseOptions: cert without privkey and privkey without cert -> 64", async () => {
  await assertFails(["-c", "cert.pem"], 64, /--privkey|-k/);
  await assertFails(["-k", "key.pem"], 64, /--cert|-c/);
});

Deno.test("parseOptions: positional argument -> 64", async () => {
  await assertFails(["extra"], 64, /extra/);
  await assertFails(["-n", "8080"], 64, /8080/);
});

Deno.test("config file: option lines, comments and blank lines", async () => {
  const text = [
    "# a comment",
    "",
    "--port 971",
    "   ",
    "  # indented comment",
    "-c certfile",
    "-k keyfile",
    "-n",
    "--fifo /tmp/sse.fifo",
    "-P 8081",
    "--allowcommands",
    "--keepalive 3",
    "",
  ].join("\n");
  await withConfig(text, async (path) => {
    const options = await parseOptions(["-C", path]);
    assert.equal(options.port, 971);
    assert.equal(options.cert, "certfile");
    assert.equal(options.privKey, "keyfile");
    assert.equal(options.nodaemon, true);
    assert.equal(options.fifo, "/tmp/sse.fifo");
    assert.equal(options.controlPort, 8081);
    assert.equal(options.allowCommands, true);
    assert.equal(options.keepAlive, 3);
    // Options not in the file keep their defaults.
    assert.equal(options.urlPath, "/");
    assert.equal(options.maxLine, 65536);
  });
});

Deno.test("config file: --config long form and CRLF line ends", async () => {
  await withConfig("--port 1971\r\n--url /x\r\n", async (path) => {
    const options = await parseOptions(["--config", path]);
    assert.equal(options.port, 1971);
    assert.equal(options.urlPath, "/x");
  });
});

Deno.test("config file: file path values keep their spaces", async () => {
  const text = "-l /var/log/my sse server.log\n" +
    "--cert /etc/my certs/cert.pem\n" +
    "--privkey  /etc/my certs/key one.pem  \n";
  await withConfig(text, async (path) => {
    const options = await parseOptions(["-C", path]);
    assert.equal(options.logFile, "/var/log/my sse server.log");
    assert.equal(options.cert, "/etc/my certs/cert.pem");
    assert.equal(options.privKey, "/etc/my certs/key one.pem");
  });
});

Deno.test("config file: the command line wins", async () => {
  await withConfig(
    "--port 1000\n--fifo from-file\n-u /file\n",
    async (path) => {
      const options = await parseOptions(["-C", path, "-p", "2000"]);
      assert.equal(options.port, 2000);
      // What the command line does not set still comes from the file.
      assert.equal(options.fifo, "from-file");
      assert.equal(options.urlPath, "/file");
      // Order on the command line does not matter.
      const before = await parseOptions(["-p", "2000", "-C", path]);
      assert.equal(before.port, 2000);
    },
  );
});

Deno.test("config file: boolean in file stays set when the command line omits it", async () => {
  await withConfig("-a\n", async (path) => {
    assert.equal((await parseOptions(["-C", path, "-n"])).allowCommands, true);
  });
});

Deno.test("config file: cert in file, privkey on command line", async () => {
  await withConfig("-c certfile\n", async (path) => {
    const options = await parseOptions(["-C", path, "-k", "keyfile"]);
    assert.equal(options.cert, "certfile");
    assert.equal(options.privKey, "keyfile");
  });
});

Deno.test("config file: missing file or a directory -> 66", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sse-options-" });
  try {
    const path = `${dir}/does-not-exist.conf`;
    await assertFails(
      ["-C", path],
      66,
      /cannot read config file .*does-not-exist\.conf/,
    );
    // A directory cannot be read as a file either.
    await assertFails(["-C", dir], 66, /cannot read config file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "config file: file without read permission -> 66",
  // Root reads whatever the permission bits say, so the case cannot arise.
  ignore: Deno.build.os === "windows" || Deno.uid() === 0,
  fn: async () => {
    await withConfig("--port 1\n", async (path) => {
      await Deno.chmod(path, 0o000);
      await assertFails(["-C", path], 66, /cannot read config file/);
    });
  },
});

Deno.test("config file: a line that is not an option -> 65 with file and line", async () => {
  await withConfig("# comment\n\n--port 971\nport 972\n", async (path) => {
    const message = await assertFails(["-C", path], 65);
    assert.ok(message.includes(`${path}:4`), message);
    assert.match(message, /port 972/);
  });
});

Deno.test("config file: unknown option -> 65 with file and line", async () => {
  await withConfig("-n\n--bogus 1\n", async (path) => {
    const message = await assertFails(["-C", path], 65, /--bogus/);
    assert.ok(message.includes(`${path}:2`), message);
  });
});

Deno.test("config file: bad value -> 65 with file and line", async () => {
  await withConfig("--port abc\n", async (path) => {
    const message = await assertFails(["-C", path], 65, /abc/);
    assert.ok(message.includes(`${path}:1`), message);
  });
  await withConfig("\n-u nothing\n", async (path) => {
    const message = await assertFails(["-C", path], 65, /urlpath/);
    assert.ok(message.includes(`${path}:2`), message);
  });
  await withConfig("--port 70000\n", async (path) => {
    await assertFails(["-C", path], 65, /70000/);
  });
});

Deno.test("config file: -C inside the file -> 65", async () => {
  await withConfig("-C other.conf\n", async (path) => {
    const message = await assertFails(["-C", path], 65, /-C/);
    assert.ok(message.includes(`${path}:1`), message);
  });
  await withConfig("--config other.conf\n", async (path) => {
    await assertFails(["-C", path], 65);
  });
});

Deno.test("config file: a bad command line is still 64, even with a good file", async () => {
  await withConfig("--port 971\n", async (path) => {
    await assertFails(["-C", path, "--bogus"], 64, /--bogus/);
  });
});

Deno.test("--auth-url must be an http or https URL; --auth-timeout and --auth-cache are seconds", async () => {
  const options = await parseOptions([
    "--auth-url",
    "https://app.example/sse-auth",
    "--auth-timeout",
    "0.5",
    "--auth-cache",
    "30",
  ]);
  assert.equal(options.authUrl, "https://app.example/sse-auth");
  assert.equal(options.authTimeout, 0.5);
  assert.equal(options.authCache, 30);
  for (const bad of ["ftp://app.example/", "app.example/auth", ""]) {
    assert.match(
      await assertFails(["--auth-url", bad], 64),
      /--auth-url must be a URL starting with http:\/\/ or https:\/\//,
    );
  }
  await assertFails(["--auth-timeout", "0"], 64);
  await assertFails(["--auth-cache", "-1"], 64);
});

Deno.test("--auth-url may not hold a user or password", async () => {
  assert.match(
    await assertFails(["--auth-url", "https://app:s3cret@app.example/"], 64),
    /--auth-url must not hold a user or password/,
  );
  await assertFails(["--auth-url", "https://app@app.example/"], 64);
});
