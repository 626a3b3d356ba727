/**
 * A minimal Chrome DevTools Protocol client for browser tests: launches a
 * headless Chromium with a fresh profile, connects to it with Deno's own
 * `WebSocket`, opens pages, evaluates JavaScript in them and takes
 * screenshots. Every wait is bounded, and closing the browser kills it by its
 * PID and removes its profile directory, so nothing outlives a test.
 *
 * @module
 */

/** Where Debian's `chromium` package installs the browser. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

const INSTALL_HINT =
  "install it with `sudo apt-get install -y chromium` (Debian/Ubuntu), or run " +
  "`sudo bash scripts/install_test_deps.sh`; or set CHROMIUM_BIN to a " +
  "Chromium/Chrome executable";

/** A CDP error answer, or a failure of the connection. */
export class CdpError extends Error {
  override name = "CdpError";
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
  method: string;
}

interface EventMessage {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

/** A CDP connection over a WebSocket, with flattened sessions. */
export class CdpConnection {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(event: EventMessage) => void>();
  readonly #closed: Promise<void>;
  #nextId = 1;
  #isClosed = false;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise<void>((resolve) => {
      ws.addEventListener("close", () => {
        this.#isClosed = true;
        for (const [id, pending] of this.#pending) {
          clearTimeout(pending.timer);
          pending.reject(
            new CdpError(
              `connection closed while waiting for ${pending.method}`,
            ),
          );
          this.#pending.delete(id);
        }
        resolve();
      }, { once: true });
    });
    ws.addEventListener("message", (event) => this.#receive(event.data));
  }

  /** Connects to a `ws://` DevTools URL. */
  static async connect(
    url: string,
    timeoutMs = 10_000,
  ): Promise<CdpConnection> {
    const ws = new WebSocket(url);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new CdpError(`timed out connecting to ${url}`)),
          timeoutMs,
        );
        ws.addEventListener("open", () => resolve(), { once: true });
        ws.addEventListener(
          "error",
          (event) =>
            reject(
              new CdpError(
                `could not connect to ${url}: ${
                  (event as ErrorEvent).message ?? "error"
                }`,
              ),
            ),
          { once: true },
        );
      });
    } catch (error) {
      ws.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return new CdpConnection(ws);
  }

  /** Sends a command and resolves with its result; rejects on a CDP error. */
  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    if (this.#isClosed) {
      return Promise.reject(
        new CdpError(`cannot send ${method}: connection closed`),
      );
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new CdpError(`timed out waiting for the answer to ${method}`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (result) => resolve(result as T),
        reject,
        timer,
        method,
      });
      this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  /**
   * Waits for an event. Call it before the command that causes the event,
   * and await it after.
   */
  waitForEvent(
    method: string,
    sessionId: string | undefined,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const listener = (event: EventMessage) => {
        if (event.method !== method || event.sessionId !== sessionId) return;
        done();
        resolve(event.params);
      };
      const timer = setTimeout(() => {
        done();
        reject(new CdpError(`timed out waiting for event ${method}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      this.#listeners.add(listener);
    });
  }

  /** Closes the connection and waits until it is closed (bounded). */
  async close(timeoutMs = 5000): Promise<void> {
    if (!this.#isClosed) {
      try {
        this.#ws.close();
      } catch {
        // Already closing.
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#closed,
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  #receive(data: unknown): void {
    if (typeof data !== "string") return;
    const message = JSON.parse(data) as {
      id?: number;
      result?: Record<string, unknown>;
      error?: { code: number; message: string; data?: string };
    } & Partial<EventMessage>;
    if (message.id !== undefined) {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.error) {
        pending.reject(
          new CdpError(
            `${pending.method}: ${message.error.message}${
              message.error.data ? ` (${message.error.data})` : ""
            }`,
          ),
        );
      } else {
        pending.resolve(message.result ?? {});
      }
      return;
    }
    if (message.method !== undefined) {
      const event: EventMessage = {
        method: message.method,
        params: message.params ?? {},
        sessionId: message.sessionId,
      };
      for (const listener of [...this.#listeners]) listener(event);
    }
  }
}

/** A page (tab) of the browser, attached through a flattened session. */
export class CdpPage {
  readonly cdp: CdpConnection;
  readonly sessionId: string;
  readonly targetId: string;

  private constructor(cdp: CdpConnection, targetId: string, sessionId: string) {
    this.cdp = cdp;
    this.targetId = targetId;
    this.sessionId = sessionId;
  }

  /** Opens a new tab of `width`×`height` CSS pixels. */
  static async open(
    cdp: CdpConnection,
    width = 800,
    height = 600,
  ): Promise<CdpPage> {
    const { targetId } = await cdp.send<{ targetId: string }>(
      "Target.createTarget",
      { url: "about:blank" },
    );
    const { sessionId } = await cdp.send<{ sessionId: string }>(
      "Target.attachToTarget",
      { targetId, flatten: true },
    );
    const page = new CdpPage(cdp, targetId, sessionId);
    await page.send("Page.enable");
    await page.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  /** Sends a command within this page's session. */
  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    timeoutMs = 10_000,
  ): Promise<T> {
    return this.cdp.send<T>(method, params, this.sessionId, timeoutMs);
  }

  /** Navigates and waits for the page's `load` event. */
  async goto(url: string, timeoutMs = 10_000): Promise<void> {
    const loaded = this.cdp.waitForEvent(
      "Page.loadEventFired",
      this.sessionId,
      timeoutMs,
    );
    // Don't leave the wait unhandled if navigating fails.
    loaded.catch(() => {});
    const result = await this.send<{ errorText?: string }>(
      "Page.navigate",
      { url },
    );
    if (result.errorText) {
      throw new CdpError(`navigating to ${url} failed: ${result.errorText}`);
    }
    await loaded;
  }

  /**
   * Evaluates `expression` in the page, awaiting it if it is a promise, and
   * returns its value (as JSON). Throws if the page code throws.
   */
  async evaluate<T>(expression: string, timeoutMs = 10_000): Promise<T> {
    const answer = await this.send<{
      result: { value?: unknown };
      exceptionDetails?: {
        text: string;
        exception?: { description?: string };
      };
    }>("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }, timeoutMs + 1000);
    if (answer.exceptionDetails) {
      const details = answer.exceptionDetails;
      throw new CdpError(
        `page code threw: ${details.exception?.description ?? details.text}`,
      );
    }
    return answer.result.value as T;
  }

  /**
   * Waits, inside the page, until the JavaScript expression `condition` is
   * truthy (checked every 20 ms), and returns its value. Throws after
   * `timeoutMs`, with `describe` (an expression) evaluated for the message.
   */
  async waitFor<T>(
    condition: string,
    timeoutMs = 10_000,
    describe = "undefined",
  ): Promise<T> {
    const script = `new Promise((resolve, reject) => {
      const deadline = Date.now() + ${timeoutMs};
      const check = () => {
        let value;
        try { value = (${condition}); } catch (e) { reject(e); return; }
        if (value) { resolve(value); return; }
        if (Date.now() > deadline) {
          let state;
          try { state = JSON.stringify(${describe}); } catch (e) { state = String(e); }
          reject(new Error(${
      JSON.stringify(`timed out waiting for: ${condition}`)
    } + "; state: " + state));
          return;
        }
        setTimeout(check, 20);
      };
      check();
    })`;
    return await this.evaluate<T>(script, timeoutMs);
  }

  /** Takes a PNG screenshot of the viewport. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send<{ data: string }>(
      "Page.captureScreenshot",
      { format: "png" },
    );
    return Uint8Array.fromBase64(data);
  }
}

/** A running headless Chromium. */
export interface Browser extends AsyncDisposable {
  /** PID of the browser process. */
  readonly pid: number;
  readonly executable: string;
  readonly version: string;
  readonly cdp: CdpConnection;
  /** What the browser wrote to stderr (the last 64 KiB). */
  stderr(): string;
  /** Opens a new page. */
  newPage(width?: number, height?: number): Promise<CdpPage>;
  /**
   * Kills the browser by its PID (SIGTERM, then SIGKILL), waits for its
   * helper processes to go and removes its profile directory. Idempotent.
   */
  close(): Promise<void>;
  /** How closing went (empty until closed), for logs. */
  closeReport(): string;
}

/**
 * Finds the Chromium to use: `$CHROMIUM_BIN`, else `chromium` on `PATH`,
 * else {@linkcode DEFAULT_CHROMIUM}. Throws with install instructions if
 * there is none.
 */
export async function findChromium(): Promise<string> {
  const fromEnv = Deno.env.get("CHROMIUM_BIN");
  const candidates = fromEnv ? [fromEnv] : [
    ...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "").map(
      (dir) => `${dir}/chromium`,
    ),
    DEFAULT_CHROMIUM,
  ];
  for (const candidate of candidates) {
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) {
        return candidate;
      }
    } catch {
      // Not there.
    }
  }
  throw new Error(
    fromEnv
      ? `CHROMIUM_BIN=${fromEnv} is not an executable file; ${INSTALL_HINT}`
      : `Chromium is not installed (no \`chromium\` on PATH, no ${DEFAULT_CHROMIUM}); ` +
        `the browser test needs it: ${INSTALL_HINT}`,
  );
}

/** Options of {@linkcode launchChromium}. */
export interface LaunchOptions {
  /** The browser executable (default: {@linkcode findChromium}). */
  readonly executable?: string;
  /** How long to wait for the DevTools endpoint. */
  readonly timeoutMs?: number;
}

/**
 * Launches headless Chromium with a fresh profile in a temporary directory
 * and connects to its DevTools endpoint (port 0: the browser picks a free
 * port and prints it on stderr).
 */
export async function launchChromium(
  options: LaunchOptions = {},
): Promise<Browser> {
  const executable = options.executable ?? await findChromium();
  const profileDir = await Deno.makeTempDir({ prefix: "sse-server-chromium-" });
  const args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    // Not --disable-crashpad-for-testing: with it, Debian's Chromium 156
    // kills its network service ("FD ownership violation") and every
    // navigation fails with ERR_ABORTED. The crashpad handlers it starts
    // instead detach from the browser, but their command line names the
    // profile (through HOME below), so close() finds and awaits them.
    "--hide-scrollbars",
    "--window-size=800,600",
    `--user-data-dir=${profileDir}`,
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "about:blank",
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(executable, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      // Keep everything the browser writes (config, caches) in the profile.
      env: {
        HOME: profileDir,
        XDG_CONFIG_HOME: `${profileDir}/.config`,
        XDG_CACHE_HOME: `${profileDir}/.cache`,
      },
    }).spawn();
  } catch (error) {
    await Deno.remove(profileDir, { recursive: true }).catch(() => {});
    throw new Error(
      `could not start ${executable}: ${error}; ${INSTALL_HINT}`,
    );
  }

  // Drain stderr for the whole life of the browser: keep the tail for error
  // messages and pick out the DevTools URL.
  let stderrText = "";
  const endpoint = Promise.withResolvers<string>();
  endpoint.promise.catch(() => {});
  const stderrReader = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  const pump = (async () => {
    try {
      while (true) {
        const { value, done } = await stderrReader.read();
        if (done) break;
        stderrText = (stderrText + value).slice(-65536);
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderrText);
        if (match) endpoint.resolve(match[1]);
      }
    } catch {
      // Cancelled by close().
    }
    endpoint.reject(
      new Error(`${executable} closed stderr without a DevTools URL`),
    );
  })();

  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    endpoint.reject(
      new Error(`${executable} exited (code ${s.code}) before it was ready`),
    );
    return s;
  });

  let cdp: CdpConnection | undefined;
  let closing: Promise<void> | undefined;
  let closeReport = "";
  const close = () => {
    closing ??= (async () => {
      const t0 = performance.now();
      const ms = () => `${Math.round(performance.now() - t0)} ms`;
      const steps: string[] = [];
      await cdp?.close(2000);
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Gone already.
        }
      }
      if (await within(status, 5000)) {
        steps.push(`exited ${ms()} after SIGTERM`);
      } else {
        try {
          child.kill("SIGKILL");
        } catch {
          // Gone already.
        }
        await status;
        steps.push(`ignored SIGTERM, killed with SIGKILL after ${ms()}`);
      }
      // The browser's helpers (zygotes, renderers, GPU, network and crashpad
      // processes) exit once the browser has gone; wait for them, since they
      // use the profile directory and hold our stderr pipe.
      const killed = await waitForProcessesUsing(profileDir, 5000);
      steps.push(
        killed.length === 0
          ? `helpers gone after ${ms()}`
          : `killed lingering helpers ${killed.join(", ")} after ${ms()}`,
      );
      if (!await within(pump, 2000)) {
        await stderrReader.cancel().catch(() => {});
        await pump;
        steps.push("stderr still open: cancelled");
      }
      await Deno.remove(profileDir, { recursive: true }).catch(() => {});
      closeReport = steps.join("; ");
    })();
    return closing;
  };

  try {
    const timeoutMs = options.timeoutMs ?? 20_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const url = await Promise.race([
      endpoint.promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `${executable} did not print its DevTools URL within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    cdp = await CdpConnection.connect(url);
    const { product } = await cdp.send<{ product: string }>(
      "Browser.getVersion",
    );
    const connection = cdp;
    return {
      pid: child.pid,
      executable,
      version: product,
      cdp: connection,
      stderr: () => stderrText,
      closeReport: () => closeReport,
      newPage: (width, height) => CdpPage.open(connection, width, height),
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw new Error(
      `could not start headless Chromium (${executable}): ${
        error instanceof Error ? error.message : error
      }\n--- chromium stderr ---\n${stderrText.slice(-4000)}`,
      { cause: error },
    );
  }
}

/** Whether `promise` settles within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    promise.then(() => true, () => true),
    new Promise<boolean>((resolve) =>
      timer = setTimeout(() => resolve(false), ms)
    ),
  ]);
  clearTimeout(timer);
  return settled;
}

/** PIDs of the processes whose command line mentions `text`. */
async function processesUsing(text: string): Promise<number[]> {
  const pids: number[] = [];
  try {
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
        if (cmdline.includes(text)) pids.push(Number(entry.name));
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
  } catch {
    // No /proc: nothing to wait for.
  }
  return pids;
}

/**
 * Waits until no process mentions `profileDir` (the unique temporary profile
 * of one browser) any more. Helpers that are still there after `timeoutMs`
 * were started by our browser for this profile only; they are killed by PID,
 * and returned.
 */
async function waitForProcessesUsing(
  profileDir: string,
  timeoutMs: number,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const pids = await processesUsing(profileDir);
    if (pids.length === 0) return [];
    if (Date.now() > deadline) {
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      return pids;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Serves `html` at `/` on a free loopback port (404 elsewhere), for a page
 * the browser loads; dispose it to stop.
 */
export function servePage(html: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, (request) => {
    if (new URL(request.url).pathname !== "/") {
      return new Response("not found", { status: 404 });
    }
    return new Response(html, {
      headers: { "Content-Type": "text/html; charset=utf-8" },
    });
  });
}
