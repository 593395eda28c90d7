// Every /v3/ and /sns/ request the sandbox saw, so tests can prove what was (or was not) sent
// upstream. In memory only: it describes this run, not the sandbox's lasting state.

export interface LoggedRequest {
  seq: number;
  method: string;
  path: string;
  /** 0 when the connection was reset without an answer. */
  status: number;
  /** null for unsigned APIs (/sns/). */
  signature_valid: boolean | null;
  request_id: string | null;
  /** /v3/: the Wechatpay-Serial the request sent (null: none). */
  request_serial?: string | null;
  /** /v3/: the Wechatpay-Serial of the key that signed the answer (null: no answer). */
  answer_serial?: string | null;
  /** /v3/: the request body as sent (parsed JSON, or the text when it is not JSON). */
  body?: unknown;
  at: string;
}

const KEEP = 1000;

export class RequestLog {
  private entries: LoggedRequest[] = [];
  private seq = 0;

  add(entry: Omit<LoggedRequest, 'seq' | 'at'>): void {
    this.seq += 1;
    this.entries.push({ seq: this.seq, ...entry, at: new Date().toISOString() });
    if (this.entries.length > KEEP) this.entries.splice(0, this.entries.length - KEEP);
  }

  list(): LoggedRequest[] {
    return [...this.entries];
  }

  /** Sequence numbers keep counting, so a client can tell old entries from new ones. */
  clear(): void {
    this.entries = [];
  }
}
