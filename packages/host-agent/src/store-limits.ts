/**
 * How many connections a preparer holds on the store (issue 20). Every host's preparer talks to
 * the same store, so its connections are multiplied by the fleet: one per watch (intent, reality,
 * pre-staging; each a blocking read that holds its connection) plus what its other requests use.
 */
import type { StoreOptions } from '@p2/kv';

/**
 * Store client limits for a preparer: at most 2 connections besides its watches (a deploy reads
 * its events and history side by side; more in flight from one host would only queue at the store),
 * one kept idle, closed after 1 s without a request (the client's defaults). A host then holds 3
 * connections on the store between deploys and at most 5 during one; with the client's default of
 * 8, 5,000 hosts updating at once opened more than a 20,000-file limit allows.
 */
export const PREPARER_STORE_LIMITS: Readonly<
  Pick<StoreOptions, 'maxConnections' | 'maxIdleConnections'>
> = {
  maxConnections: 2,
  maxIdleConnections: 1,
};
