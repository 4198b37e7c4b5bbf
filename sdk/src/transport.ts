/**
 * One HTTP call to latchkey: a deadline on every call, bounded retries for idempotent ones (on 429 and 503, honouring
 * Retry-After, and on a connection that failed), and every failure turned into a LatchkeyError. Secrets travel in
 * headers and bodies only; nothing here logs. Every call names the SDK and its runtime in User-Agent, which latchkey
 * records (a CLI login's approval page shows it).
 */
import { errorFromAnswer, LatchkeyError, unavailable } from "./errors.ts";
import { SDK_VERSION } from "./version.ts";

export interface TransportOptions {
  /** latchkey's URL, e.g. `https://auth.example.com` or `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** Every call gives up after this long (default 10,000 ms). */
  timeoutMs?: number;
  /** How many times an idempotent call is tried again (default 2). */
  retries?: number;
  /** The longest Retry-After the SDK waits for before giving up and throwing (default 5,000 ms). */
  maxRetryDelayMs?: number;
  /** Another fetch (tests, instrumentation); the global one by default. */
  fetch?: Fetch;
}

/** The part of fetch the SDK uses. */
export type Fetch = (input: URL, init: RequestInit) => Promise<Response>;

export interface CallOptions {
  key?: string | undefined;
  headers?: Record<string, string | undefined>;
  query?: Record<string, string | number | boolean | readonly string[] | undefined | null>;
  body?: unknown;
  /** Safe to send again: GET, PUT, DELETE by default. */
  idempotent?: boolean;
  signal?: AbortSignal | undefined;
}

export interface Answer<Body> {
  status: number;
  headers: Headers;
  body: Body;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE"]);
const USER_AGENT = userAgent();

export class Transport {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryDelayMs: number;
  private readonly fetcher: Fetch;

  constructor(options: TransportOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError("baseUrl must be http(s)");
    this.baseUrl = url.toString().replace(/\/+$/, "");
    this.timeoutMs = positive(options.timeoutMs, 10_000, "timeoutMs");
    this.retries = Math.min(10, Math.max(0, Math.floor(options.retries ?? 2)));
    this.maxRetryDelayMs = positive(options.maxRetryDelayMs, 5_000, "maxRetryDelayMs");
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** A call whose answer must be 2xx; anything else throws LatchkeyError. */
  async call<Body>(method: string, path: string, options: CallOptions = {}): Promise<Body> {
    const answer = await this.send<Body>(method, path, options);
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    throw errorFromAnswer(answer.status, answer.headers, answer.body);
  }

  /** A call whose answer is returned whatever its status (the middleware relays refusals as they are). */
  async send<Body>(method: string, path: string, options: CallOptions = {}): Promise<Answer<Body>> {
    const idempotent = options.idempotent ?? IDEMPOTENT.has(method);
    for (let attempt = 0; ; attempt++) {
      let answer: Answer<Body>;
      try {
        answer = await this.once<Body>(method, path, options);
      } catch (error) {
        if (!(error instanceof LatchkeyError) || !idempotent || attempt >= this.retries) throw error;
        await sleep(backoffMs(attempt), options.signal);
        continue;
      }
      if (!idempotent || attempt >= this.retries || (answer.status !== 429 && answer.status !== 503)) return answer;
      const retryAfter = answer.headers.get("retry-after");
      const waitMs = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : backoffMs(attempt);
      if (waitMs > this.maxRetryDelayMs) return answer;
      await sleep(waitMs, options.signal);
    }
  }

  private async once<Body>(method: string, path: string, options: CallOptions): Promise<Answer<Body>> {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value === undefined || value === null) continue;
      for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(one));
    }
    const headers: Record<string, string> = { accept: "application/json", ...USER_AGENT };
    for (const [name, value] of Object.entries(options.headers ?? {})) if (value !== undefined) headers[name] = value;
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const signals = [AbortSignal.timeout(this.timeoutMs), ...(options.signal ? [options.signal] : [])];
    let response: Response;
    try {
      response = await this.fetcher(url, {
        method,
        headers,
        body,
        signal: AbortSignal.any(signals),
        redirect: "manual",
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const timedOut = error instanceof DOMException && error.name === "TimeoutError";
      const reason = timedOut ? `no answer within ${this.timeoutMs} ms` : reasonOf(error);
      throw unavailable(`${reason} (${new URL(this.baseUrl).host})`, error);
    }
    const text = await response.text();
    let parsed: unknown = text;
    if ((response.headers.get("content-type") ?? "").includes("json") && text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: response.status, headers: response.headers, body: parsed as Body };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a positive number`);
  return value;
}

/** 200 ms, 400 ms, 800 ms, … with jitter, so clients that failed together do not retry together. */
function backoffMs(attempt: number): number {
  return Math.min(5_000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/** Waits, or rejects as soon as `signal` aborts. */
export function sleep(milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, milliseconds);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/**
 * Why a connection failed, without echoing anything the request carried: the first error code met along the error's
 * causes (Bun puts ECONNREFUSED on the error, Node on its cause, or on each error of an AggregateError when every
 * address of a host refused), else the innermost message (Node's "bad port").
 */
export function reasonOf(error: unknown): string {
  let reason = "network error";
  const seen = new Set<unknown>();
  for (let current = error; typeof current === "object" && current !== null && !seen.has(current); ) {
    seen.add(current);
    const { code, errors, cause, message } = current as {
      code?: unknown;
      errors?: unknown;
      cause?: unknown;
      message?: unknown;
    };
    const codes = [code, ...(Array.isArray(errors) ? errors.map((inner) => (inner as { code?: unknown })?.code) : [])];
    const named = codes.find((candidate): candidate is string => typeof candidate === "string" && candidate !== "");
    if (named !== undefined) return named;
    if (typeof message === "string" && message !== "") reason = message;
    current = cause;
  }
  return reason;
}

/**
 * `latchkey-sdk/<version> (<runtime>/<version>)`. None in a browser, which sends its own, and for which a User-Agent
 * set by script would make every request need a CORS preflight.
 */
function userAgent(): { "user-agent"?: string } {
  const runtime = globalThis as {
    Bun?: { version?: unknown };
    Deno?: { version?: { deno?: unknown } };
    process?: { versions?: { node?: unknown } };
    document?: unknown;
    navigator?: { userAgent?: unknown };
  };
  let name: unknown;
  if (typeof runtime.Bun?.version === "string") name = `bun/${runtime.Bun.version}`;
  else if (typeof runtime.Deno?.version?.deno === "string") name = `deno/${runtime.Deno.version.deno}`;
  else if (typeof runtime.process?.versions?.node === "string") name = `node/${runtime.process.versions.node}`;
  else if (runtime.document !== undefined) return {};
  else name = runtime.navigator?.userAgent;
  const described = typeof name === "string" ? name.replace(/[^\x21-\x7e]/g, "").slice(0, 64) : "";
  return { "user-agent": `latchkey-sdk/${SDK_VERSION} (${described || "unknown"})` };
}
