/** What every route handler is given: the live state and the server's settings. */
import type { Engine } from './engine.js';
import type { State } from './state.js';

export interface ServerContext {
  readonly state: State;
  readonly engine: Engine;
  /** The address the server listens on (the port is known once it listens). */
  readonly host: string;
  port: number;
  readonly nodeName: string;
  readonly datacenter: string;
  readonly sessionTtlMinMs: number;
  readonly maxValueSize: number;
  readonly txnMaxOps: number;
  /** SHA-256 of the ACL token every request must carry; none: no ACLs. */
  readonly aclDigest: Buffer | undefined;
}
