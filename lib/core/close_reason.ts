/**
 * Why a subscriber's stream ended: logged when it closes, and what decides
 * whether its queue drains first (see `Subscriber.close`).
 *
 * @module
 */

/** Why a subscriber's stream ended. */
export type CloseReason =
  | "client disconnected"
  | "slow consumer"
  | "server halting"
  | "token expired"
  | "closed by admin";
