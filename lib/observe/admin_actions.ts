/**
 * The admin's view of channels and its actions on streams, on the admin
 * listener (with its authentication):
 *
 * - `GET /channels`: every channel with subscribers or history:
 *   `{"channels":[{"name","subscribers","history","lastEventId"}, …]}`.
 * - `GET /channels/NAME`: that channel, with this instance's subscribers
 *   under `clients` (id, address, connected since, user).
 * - `DELETE /clients/ID`: ends that stream now. With several instances a
 *   client's id names its instance too (`INSTANCE.N`), and a stream of
 *   another instance is ended there, told by a cluster command (`202`).
 * - `DELETE /channels/NAME`: ends every stream subscribed to it, on every
 *   instance, and forgets its history.
 *
 * With several instances, subscriber counts are every instance's (as last
 * exchanged, see `presence.ts`), history is Redis's, and a channel's end
 * is a cluster command. Names are percent-decoded; answers are JSON, and
 * so are errors (`{"error": …}`).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Broker } from "../broker/broker.ts";
import type { Hub } from "../core/hub.ts";
import type { Presence } from "../core/presence.ts";
import type { Subscriber } from "../core/subscriber.ts";
import { errorMessage, NotFoundError, RequestError } from "../errors.ts";

const logger = getLogger(["sse-server", "admin"]);

/** One channel in the admin's list. */
export interface ChannelView {
  readonly name: string;
  /** Subscribers on every instance (all-channel subscribers not counted). */
  readonly subscribers: number;
  /** Events kept for replay. */
  readonly history: number;
  /** The newest kept event's id, null when none is kept. */
  readonly lastEventId: string | null;
}

/** What the admin's channel actions work on. */
export interface ChannelAdminSource {
  readonly hub: Hub;
  /** The broker (asked each time: the server makes it after this). */
  readonly broker: () => Broker;
  /** The cluster-wide counts, when they are kept. */
  readonly presence?: Presence;
}

/** Answers the admin's channel and client requests. */
export class ChannelAdmin {
  readonly #source: ChannelAdminSource;

  constructor(source: ChannelAdminSource) {
    this.#source = source;
  }

  /**
   * The answer to `method` on `path`, or null when the path is not one of
   * the channel or client paths.
   */
  async handle(method: string, path: string): Promise<Response | null> {
    const route = /^\/(channels|clients)(?:\/(.*))?$/s.exec(path);
    if (!route) return null;
    const [, kind, rawName] = route;
    try {
      const name = rawName === undefined ? undefined : decodeName(rawName);
      if (kind === "channels" && name === undefined) {
        if (method !== "GET" && method !== "HEAD") return notAllowed("GET");
        return Response.json({ channels: await this.list() });
      }
      if (name === undefined) {
        throw new NotFoundError("a client is named by its id: /clients/ID");
      }
      if (kind === "clients") {
        if (method !== "DELETE") return notAllowed("DELETE");
        const closed = await this.closeClient(name);
        return Response.json(closed, { status: closed.closed ? 200 : 202 });
      }
      if (method === "GET" || method === "HEAD") {
        return Response.json(await this.channel(name));
      }
      if (method === "DELETE") {
        return Response.json(await this.deleteChannel(name));
      }
      return notAllowed("GET, DELETE");
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      return Response.json({ error: error.message }, {
        status: error.status,
      });
    }
  }

  /** Every channel with subscribers (on any instance) or history, by name. */
  async list(): Promise<ChannelView[]> {
    const { hub, presence } = this.#source;
    const broker = this.#source.broker();
    const counts = new Map<string, number>(presence?.otherCounts() ?? []);
    for (const [name, local] of hub.channelSizes()) {
      counts.set(name, (counts.get(name) ?? 0) + local);
    }
    const kept = new Map(
      (await broker.channelHistory()).map((h) => [h.name, h]),
    );
    const names = [...new Set([...counts.keys(), ...kept.keys()])].sort();
    return names.map((name) => ({
      name,
      subscribers: counts.get(name) ?? 0,
      history: kept.get(name)?.events ?? 0,
      lastEventId: kept.get(name)?.lastEventId ?? null,
    }));
  }

  /** One channel and this instance's subscribers of it; 404 if unknown. */
  async channel(name: string): Promise<
    ChannelView & {
      readonly clients: {
        id: number | string;
        address: string;
        connectedAt: string;
        user: string | null;
      }[];
    }
  > {
    const view = await this.#view(name);
    return {
      ...view,
      clients: this.#subscribersOf(name).map((sub) => ({
        id: this.#clientId(sub),
        address: sub.remoteAddr,
        connectedAt: new Date(sub.connectedAt).toISOString(),
        user: sub.user ?? null,
      })),
    };
  }

  /**
   * Ends the stream of client `id` now: this instance's client number, or
   * with several instances `INSTANCE.N` as listed, whose own instance ends
   * it (told by a cluster command when it is another: `closed` false, as
   * whether it still exists is known there only). 404 when it is not one
   * of this instance's clients.
   */
  async closeClient(
    id: string,
  ): Promise<{ id: number | string; closed: boolean }> {
    const broker = this.#source.broker();
    let number = /^[1-9]\d{0,15}$/.test(id) ? Number(id) : NaN;
    if (broker.instance !== undefined) {
      const qualified = /^([0-9a-f-]{36})\.([1-9]\d{0,15})$/.exec(id);
      number = qualified ? Number(qualified[2]) : NaN;
      if (qualified && qualified[1] !== broker.instance) {
        await broker.broadcast({
          kind: "close-client",
          instance: qualified[1],
          id: number,
        });
        logger.info("admin: closing client {id} sent to its instance", { id });
        return { id, closed: false };
      }
    }
    const sub = this.#find(number);
    if (!sub) throw new NotFoundError(`no client ${JSON.stringify(id)}`);
    this.#close(sub);
    return { id: this.#clientId(sub), closed: true };
  }

  /** Ends client `id` if `instance` is this one: for the cluster command. */
  closeClientHere(instance: string, id: number): void {
    if (instance !== this.#source.broker().instance) return;
    const sub = this.#find(id);
    if (sub) this.#close(sub);
  }

  #find(id: number): Subscriber | undefined {
    return [...this.#source.hub.subscribers()].find((s) => s.id === id);
  }

  #close(sub: Subscriber): void {
    logger.info("admin: closing client {id} at {addr}", {
      id: sub.id,
      addr: sub.remoteAddr,
    });
    sub.close("closed by admin");
  }

  /** A client's id as the admin shows it: qualified by its instance. */
  #clientId(sub: Subscriber): number | string {
    const instance = this.#source.broker().instance;
    return instance === undefined ? sub.id : `${instance}.${sub.id}`;
  }

  /**
   * Forgets `name`'s history and ends its streams on every instance; 404
   * when it has neither subscribers nor history.
   */
  async deleteChannel(
    name: string,
  ): Promise<{ channel: string; subscribers: number; forgotten: number }> {
    const view = await this.#view(name);
    const broker = this.#source.broker();
    const forgotten = await broker.forgetHistory(name);
    await broker.broadcast({ kind: "close-channel", channel: name });
    logger.info(
      "admin: channel {channel} deleted ({subscribers} subscribers, {forgotten} events forgotten)",
      { channel: name, subscribers: view.subscribers, forgotten },
    );
    return { channel: name, subscribers: view.subscribers, forgotten };
  }

  /**
   * Ends this instance's streams subscribed to `channel` (clients on other
   * channels too), for the cluster command; returns how many.
   */
  closeChannel(channel: string): number {
    const subs = this.#subscribersOf(channel);
    for (const sub of subs) sub.close("closed by admin");
    if (subs.length > 0) {
      logger.info("admin: closed {count} clients of channel {channel}", {
        count: subs.length,
        channel,
      });
    }
    return subs.length;
  }

  async #view(name: string): Promise<ChannelView> {
    const { presence } = this.#source;
    const broker = this.#source.broker();
    const subscribers = this.#subscribersOf(name).length +
      (presence?.others(name) ?? 0);
    const [kept] = await broker.channelHistory(name);
    if (subscribers === 0 && kept === undefined) {
      throw new NotFoundError(`no channel ${JSON.stringify(name)}`);
    }
    return {
      name,
      subscribers,
      history: kept?.events ?? 0,
      lastEventId: kept?.lastEventId ?? null,
    };
  }

  #subscribersOf(channel: string): Subscriber[] {
    return [...this.#source.hub.subscribers()].filter((sub) =>
      sub.channels.includes(channel)
    );
  }
}

/** A percent-decoded name from the path; 400 when it is malformed. */
function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (error) {
    throw new RequestError(
      400,
      `malformed name in the path: ${errorMessage(error)}`,
    );
  }
}

function notAllowed(allow: string): Response {
  return Response.json({ error: "method not allowed" }, {
    status: 405,
    headers: { Allow: allow },
  });
}
