/**
 * The `--help` text: every option of `options.ts`, grouped as the README's
 * option table is.
 *
 * @module
 */

/** The `--help` text. */
export const USAGE = `Usage: sse-server [options]

Server-Sent Events hub: web clients subscribe to channels by URL path;
events are published by HTTP query, on the control port or through a FIFO.

  -h, --help                 print this help and exit
  -n, --nodaemon             stay in the foreground; log to stdout unless -l
  -u, --urlpath, --url PATH  URL path prefix, must start with / (default /)
  -p, --port PORT            HTTP port for web clients (default 8080; 0: any)
  -l, --logfile FILE         append the log to FILE
  -c, --cert FILE            TLS certificate (PEM); needs -k
  -k, --privkey FILE         TLS private key (PEM); needs -c
  -F, --fifo FILE            read instructions from FILE, a FIFO (created if missing)
  -P, --controlport PORT     read instructions on this TCP port (TLS with -c/-k)
  -U, --user USER            run as USER (after reading config and certificate)
  -C, --config FILE          read options from FILE, one per line; # comments;
                             the command line wins
  -a, --allowcommands        accept status/halt on the control port and HTTP
      --bind ADDRESS         listen on this address only (default 0.0.0.0: all)
      --max-line N           longest instruction line or request URL, in
                             characters (default 65536 = 64 KiB); longer ones
                             are refused and logged
      --max-client-buffer N  bytes queued for one client before it is
                             dropped as a slow consumer (default 1048576 =
                             1 MiB, at least 65536)
      --max-backlog N        bytes queued for all clients together past which
                             publishers are made to wait (default 16777216 =
                             16 MiB; 0: never)
      --keepalive SECONDS    keep-alive comment after this much silence
                             (default 15)
      --history N            events kept per channel for Last-Event-ID replay
                             (default 1000); 0: no history and no ids
      --history-age SECONDS  how long events are kept (default 3600)
      --retry MS             reconnection delay sent to clients (retry:)
      --max-body N           largest POST body (bytes) and multi-line block
                             (characters) (default 1048576 = 1 MiB)
      --no-get-publish       refuse publishing by GET query (use POST)
      --http-engine ENGINE   lean (default without TLS: HTTP/1.1, far less
                             memory and CPU per stream, every request bound;
                             HTTPS too) or serve (Deno.serve; the default
                             with -c/-k: TLS and HTTP/2)
      --head-timeout SECONDS lean engine: time for a request head to arrive
                             (default 10), then 408; idle kept-alive
                             connections close after it
      --body-timeout SECONDS time for a request body to arrive (default 30),
                             then 408 and the connection closed
      --admin-port PORT      serve /status (JSON), /metrics (Prometheus) and
                             a live dashboard at / on this port (default: off)
      --admin-bind ADDRESS   address of the admin port (default 127.0.0.1)

Security (all off by default):
      --publish-token TOKEN  publishing needs "Authorization: Bearer TOKEN"
                             (HTTP) or a first line "auth TOKEN" (control port);
                             also from $SSE_PUBLISH_TOKEN
      --publish-token-file FILE  the same, read from FILE (wins)
      --jwt-secret SECRET    accept HS256 JWTs (publish/subscribe claims)
      --jwt-public-key FILE  accept RS256/ES256 JWTs signed for this key
      --subscribe-auth       subscribing needs a JWT with a subscribe claim
      --auth-cookie NAME     a subscriber's JWT may come in this cookie
      --cors-origin LIST     allowed origins, comma-separated (default *)
      --control-bind ADDRESS address of the control port (default: --bind)

Limits:
      --max-clients N        subscribers in all (default 100000); then 503
      --max-clients-per-ip N subscribers per address (default 0: no limit)
      --max-channels N       channels per subscription or publish (default 100)
      --max-name-length N    characters in a channel name or event type
                             (default 256)
      --max-controllers N    control-port connections at once (default 100)
      --control-idle-timeout SECONDS  close silent control connections
                             (default 3600; 0: never)
      --publish-rate N       events per second per control connection or
                             HTTP address (default 0: no limit); then 429

Scale-out:
      --redis URL            share channels, ids and history with other
                             instances through Redis (redis://HOST:PORT/DB,
                             rediss:// for TLS)
      --redis-password-file FILE  the Redis password, if not in the URL

Instruction lines (FIFO and control port):
  channel/type = data        publish an event of that type
  channel = data             publish an event of type "message"
  {"channel":"c","event":"t","data":"d","id":"i"}
                             publish, with JSON escapes and an optional id
  channel/type <<END         publish the following lines, up to END, as the
                             data of one event
  status | halt              log the clients | stop the server
  halt-all                   with --redis, stop every instance

Exit status: 0 after halt, 64 usage error, 65 bad config file, 66 file not
readable, 67 unknown user, 69 TLS set-up failed, 73 cannot listen or create.
`;
