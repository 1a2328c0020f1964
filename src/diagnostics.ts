/**
 * Live counts of what yadl has open in this process, for tests and
 * troubleshooting (not part of the public API): everything returns to zero
 * once no lock is held or awaited and the short lingers have passed.
 */
export interface Diagnostics {
  /** Acquisitions, holds and admin calls using a connection. */
  connectionUsers: number;
  /** Connections yadl opened itself (from URLs), data and subscriber. */
  ownedClients: number;
  /** Channels subscribed on yadl's subscriber connections. */
  channels: number;
  /** Locks this process waits for. */
  waitQueues: number;
}

export const diagnostics: Diagnostics = { connectionUsers: 0, ownedClients: 0, channels: 0, waitQueues: 0 };
